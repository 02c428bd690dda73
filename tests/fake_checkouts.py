"""Tiny stand-ins for the MANet and ATNet checkouts, with their CUDA-only habits, for adapter tests.

They keep the upstream module names, entry points and the things that broke the adapters: MANet's
``config.py`` refuses to import without CUDA and its model calls ``.cuda()`` unconditionally; ATNet
imports the compiled ``correlation_cuda`` through ``networks/correlation_package/correlation.py``,
calls ``.cuda()`` in ``ltm_transfer.py`` and its encoders download ImageNet weights when built. The
networks are a few convolutions; the segmentation they give follows the scribbles, so the adapters'
loops can be checked without the real code. Calls are recorded in ``CALLS`` of the model module.
"""
from __future__ import annotations

import textwrap
from pathlib import Path


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


MANET_CONFIG = """
import argparse
import torch
parser = argparse.ArgumentParser()
parser.add_argument('--TEST_MODE', type=str, default='False')
parser.add_argument('--MODEL_USEIntSeg', type=str, default='False')
parser.add_argument('--KNNS', type=int, default=1)
parser.add_argument('--MODEL_MAX_LOCAL_DISTANCE', type=int, default=12)
cfg = parser.parse_args()
if not torch.cuda.is_available():
    raise ValueError('config.py: cuda is not avalable')
"""

MANET_DEEPLAB = """
import torch, torch.nn as nn, torch.nn.functional as F
class DeepLab(nn.Module):
    def __init__(self, backbone='resnet', freeze_bn=False):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
    def forward(self, x):
        return self.conv(F.avg_pool2d(x, 4))
"""

MANET_INTVOS = """
import torch, torch.nn as nn, torch.nn.functional as F
from config import cfg
CALLS = []
class IntVOS(nn.Module):
    '''Logits: object k where the scribble label says k (else background), plus the previous mask.'''
    def __init__(self, cfg, feature_extracter):
        super().__init__()
        self.feature_extracter = feature_extracter
        self.dynamic_seghead = nn.Identity()
        self.head = nn.Conv2d(4, 4, 1)
    def extract_feature(self, x):
        CALLS.append(('embed', x.shape[0], None, None))
        return self.feature_extracter(x)
    def _logits(self, label, prev, k, hw):
        lab = F.interpolate(label.float(), size=hw, mode='nearest')[0, 0]
        out = torch.zeros(1, k + 1, *hw)
        out[0, 0] = 0.5
        if prev is not None:
            p = F.interpolate(prev.float(), size=hw, mode='nearest')[0, 0].long()
            out[0] += F.one_hot(p, k + 1).permute(2, 0, 1).float()
        for obj in range(k + 1):  # strokes widened to blobs
            out[0, obj] += 5.0 * F.max_pool2d((lab == obj).float()[None, None], 15, 1, 7)[0, 0]
        return out
    def int_seghead(self, ref_frame_embedding=None, ref_scribble_label=None, prev_round_label=None,
                    global_map_tmp_dic=None, local_map_dics=None, interaction_num=None, seq_names=None,
                    gt_ids=None, frame_num=None, first_inter=True, **kw):
        torch.arange(3).cuda()  # unconditional, as networks/IntVOS.py's _selected_pixel
        if interaction_num > 9:
            raise IndexError('index 9 is out of bounds for dimension 0 with size 9')
        CALLS.append(('int', frame_num[0], interaction_num, None if prev_round_label is None
                      else tuple(prev_round_label.shape)))
        k = int(gt_ids[0])
        hw = tuple(ref_frame_embedding.shape[2:])
        return {seq_names[0]: self._logits(ref_scribble_label, prev_round_label, k, hw)}, local_map_dics
    def prop_seghead(self, ref, prev_emb, cur, label, prev_label, normalize_nearest_neighbor_distances=True,
                     use_local_map=True, seq_names=None, gt_ids=None, k_nearest_neighbors=1,
                     global_map_tmp_dic=None, local_map_dics=None, interaction_num=None,
                     start_annotated_frame=None, frame_num=None, dynamic_seghead=None):
        torch.arange(3).cuda()
        CALLS.append(('prop', frame_num[0], interaction_num, tuple(prev_label.shape)))
        k = int(gt_ids[0])
        hw = tuple(cur.shape[2:])
        blank = torch.full_like(label, -1)
        return {seq_names[0]: self._logits(blank, prev_label, k, hw)}, global_map_tmp_dic, local_map_dics
"""


def fake_manet(tmp_path: Path, name: str = "CVPR2020_MANet") -> Path:
    root = tmp_path / name
    write(root / "config.py", MANET_CONFIG)
    write(root / "networks/__init__.py")
    write(root / "networks/deeplab.py", MANET_DEEPLAB)
    write(root / "networks/IntVOS.py", MANET_INTVOS)
    return root


ATNET_RESNET = """
import torch.nn as nn
from urllib.error import URLError
class ResNet(nn.Module):
    def __init__(self, pretrained=True):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        if pretrained:
            self._load_pretrained_model()
    def _load_pretrained_model(self):
        raise URLError('Name or service not known (https://download.pytorch.org/models/resnet50-19c8e357.pth)')
"""

ATNET_CORRELATION = """
import torch
from torch.nn.modules.module import Module
import correlation_cuda
class Correlation(Module):
    def __init__(self, pad_size=0, kernel_size=0, max_displacement=0, stride1=1, stride2=2, corr_multiply=1):
        super().__init__()
        self.args = (pad_size, kernel_size, max_displacement, stride1, stride2, corr_multiply)
    def forward(self, input1, input2):
        output = input1.new()
        with torch.cuda.device_of(input1):
            correlation_cuda.forward(input1, input2, input1.new(), input2.new(), output, *self.args)
        return output
"""

ATNET_LTM = """
import torch
class LTM_transfer(torch.nn.Module):
    def __init__(self, md=4, stride=1):
        super().__init__()
        self.d = torch.zeros(3).cuda()
"""

ATNET_NET = """
import torch, torch.nn as nn, torch.nn.functional as F
from networks.deeplab.backbone.resnet import ResNet
from networks.correlation_package.correlation import Correlation
from networks.ltm_transfer import LTM_transfer
CALLS = []
class Encoder3(nn.Module):
    def __init__(self):
        super().__init__()
        self.resnet = ResNet(pretrained=True)
    def forward(self, x):
        r2 = F.avg_pool2d(self.resnet.conv(x), 4)
        return F.avg_pool2d(r2, 4), None, None, r2
class ATnet(nn.Module):
    '''A-Net: the positive map minus the negative one; T-Net: the previous mask, shifted by nothing.'''
    def __init__(self):
        super().__init__()
        print('Constructing ATnet architecture..')
        self.encoder_3ch = Encoder3()
        self.encoder_6ch = ResNet(pretrained=True)
        self.corr = Correlation(pad_size=2, kernel_size=1, max_displacement=2, stride1=1, stride2=1)
        self.ltm = LTM_transfer()
    def forward_ANet(self, x):
        CALLS.append(('anet', tuple(x.shape)))
        logit = 20 * (x[:, 4:5] - x[:, 5:6]) - 5 + 15 * (x[:, 3:4] - 0.5)
        return logit, self.encoder_6ch.conv(x[:, :3]).mean((2, 3), keepdim=True)
    def forward_TNet(self, anno3, img, anno6, r2_prev, mask_prev):
        corr = self.corr(r2_prev, r2_prev)
        # ltm_transfer.py's warp: an identity grid normalised by W - 1, grid_sample without align_corners
        h, w = r2_prev.shape[2:]
        ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing='ij')
        grid = torch.stack([2 * xs / (w - 1) - 1, 2 * ys / (h - 1) - 1], -1)[None]
        warped = nn.functional.grid_sample(r2_prev[:1], grid, mode='bilinear', padding_mode='border')
        CALLS.append(('tnet', len(anno3), tuple(corr.shape), bool(torch.allclose(warped, r2_prev[:1], atol=1e-5))))
        enc = self.encoder_3ch(img)
        logit = torch.logit(mask_prev.clamp(1e-4, 1 - 1e-4))
        return logit, enc[3]
"""


def fake_atnet(tmp_path: Path, name: str = "IVOS-ATNet") -> Path:
    root = tmp_path / name
    write(root / "libs/utils.py")
    write(root / "networks/__init__.py")
    write(root / "networks/atnet.py", ATNET_NET)
    write(root / "networks/ltm_transfer.py", ATNET_LTM)
    write(root / "networks/deeplab/__init__.py")
    write(root / "networks/deeplab/backbone/__init__.py")
    write(root / "networks/deeplab/backbone/resnet.py", ATNET_RESNET)
    write(root / "networks/correlation_package/__init__.py")
    write(root / "networks/correlation_package/correlation.py", ATNET_CORRELATION)
    return root
