"""The MNIST SmallCNN of the sigma-zero evaluation (the DDN/TRADES architecture), as a PyTorch module.

Shared by scripts/train/train_mnist_smallcnn.py (the zoo models mnist-smallcnn-pt / -at) and
scripts/fixtures/make_onnx_fixtures.py (the fixture mnist-smallcnn-view), so the importer is tested on
exactly the graph the zoo ships.

conv3x3(32)-relu-conv3x3(32)-relu-maxpool2-conv3x3(64)-relu-conv3x3(64)-relu-maxpool2-flatten(1024)-
fc(200)-relu-dropout-fc(200)-relu-fc(10); valid padding, input N x 1 x 28 x 28 in [0,1].

The flatten is written `x.view(x.size(0), -1)` on purpose: that is how most PyTorch classifiers in the
wild flatten, and with a dynamic batch axis it exports as a Shape -> Gather -> Unsqueeze -> Concat ->
Reshape chain, which an ONNX importer has to evaluate rather than read as a constant.
Dropout is the identity in eval mode and does not appear in the exported graph.
"""
import torch.nn as nn
import torch.nn.functional as F


class SmallCNN(nn.Module):
    def __init__(self, dropout: float = 0.5):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 32, 3)
        self.conv3 = nn.Conv2d(32, 64, 3)
        self.conv4 = nn.Conv2d(64, 64, 3)
        self.fc1 = nn.Linear(64 * 4 * 4, 200)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(200, 200)
        self.fc3 = nn.Linear(200, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.conv3(x))
        x = F.max_pool2d(F.relu(self.conv4(x)), 2)
        x = x.view(x.size(0), -1)
        x = self.drop(F.relu(self.fc1(x)))
        x = F.relu(self.fc2(x))
        return self.fc3(x)
