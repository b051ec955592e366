"""One ONNX export path for every PyTorch model this repo ships (zoo models and test fixtures).

Settings, and why:
- opset 17: the first opset with LayerNormalization as a single op (GELU still exports as Erf-based ops).
- input `input` [N, C, H, W] float32, output `logits` [N, classes]; the batch axis is dynamic
  (`batch`), because attacks run at whatever batch size the engine picks. A dynamic batch keeps
  `x.view(x.size(0), -1)` as a Shape-based chain instead of baking the export-time N into a constant.
- eval mode, constant folding on (torch's exporter then folds eval-mode BatchNorm that directly follows
  a Conv into the Conv weights; BatchNorm elsewhere stays a BatchNormalization node).

torch.onnx.export cannot write ModelProto.metadata_props, so `metadata` (if given) is appended to the
serialized bytes as extra field-14 entries: protobuf allows fields in any order and repeated fields to
be appended, so the result is a valid ModelProto that onnxruntime and protobufjs read normally.
"""
import hashlib
import io

import torch


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _len_field(field: int, payload: bytes) -> bytes:
    return _varint((field << 3) | 2) + _varint(len(payload)) + payload


def metadata_bytes(metadata: dict) -> bytes:
    """ModelProto.metadata_props (field 14) entries; StringStringEntryProto has key=1, value=2."""
    out = b''
    for k in sorted(metadata):
        entry = _len_field(1, k.encode()) + _len_field(2, str(metadata[k]).encode())
        out += _len_field(14, entry)
    return out


def export_onnx(model: torch.nn.Module, sample: torch.Tensor, path: str, metadata: dict | None = None) -> str:
    """Export `model` (eval mode) to `path`; returns the sha256 of the written file."""
    model.eval()
    buf = io.BytesIO()
    torch.onnx.export(
        model,
        (sample,),
        buf,
        input_names=['input'],
        output_names=['logits'],
        dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}},
        opset_version=17,
        do_constant_folding=True,
    )
    data = buf.getvalue()
    if metadata:
        data += metadata_bytes(metadata)
    with open(path, 'wb') as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()
