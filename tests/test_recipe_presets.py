"""The bundled recipes' model inputs checked against independent counts."""

from __future__ import annotations

import pytest

from parplan.specs import load_model


def _hunyuan_vae_encoder_convs(torch):
    """The conv stack of HunyuanVideo's causal-3D VAE encoder as Open-Sora 2.0 configures it
    (opensora/models/hunyuan_vae/autoencoder_kl_causal_3d.py AutoEncoder3DConfig and vae.py
    EncoderCausal3D @1b8253c: block_out_channels (128, 256, 512, 512), layers_per_block 2,
    3x3x3 convs, spatial /2 in blocks 0-2, time /2 in blocks 1-2, mid block of 2 resnets,
    conv_out to 2 x 16 channels, quant_conv 1x1x1). Norms, activations and the mid block's
    attention are left out: this counts the convs only."""
    nn = torch.nn

    class Res(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.c1, self.c2 = nn.Conv3d(cin, cout, 3, padding=1), nn.Conv3d(cout, cout, 3, padding=1)
            self.skip = nn.Conv3d(cin, cout, 1) if cin != cout else None

        def forward(self, x):
            return self.c2(self.c1(x)) + (x if self.skip is None else self.skip(x))

    layers, cin = [nn.Conv3d(3, 128, 3, padding=1)], 128
    for i, cout in enumerate((128, 256, 512, 512)):
        layers += [Res(cin, cout), Res(cout, cout)]
        cin, space, time = cout, 2 if i < 3 else 1, 2 if i in (1, 2) else 1
        if space > 1 or time > 1:
            layers.append(nn.Conv3d(cout, cout, 3, stride=(time, space, space), padding=1))
    layers += [Res(512, 512), Res(512, 512), nn.Conv3d(512, 32, 3, padding=1), nn.Conv3d(32, 32, 1)]
    return nn.Sequential(*layers)


def test_open_sora_vae_encoder_flops_per_pixel():
    """The preset's 9.3e6 FLOP per input pixel per frame = the convs (torch.utils.flop_counter on
    an 8 x 32 x 32 clip: 9.06e6) + ~0.25e6 for the mid block's attention over a 256 px tile."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    net = _hunyuan_vae_encoder_convs(torch)
    frames, height, width = 8, 32, 32
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(torch.zeros(1, 3, frames, height, width))
    conv_per_pixel = counter.get_total_flops() / (frames * height * width)
    assert conv_per_pixel == pytest.approx(9.06e6, rel=0.01)
    vae = load_model("open-sora-2.0").vae
    assert vae.encoder_flops_per_pixel == pytest.approx(conv_per_pixel, rel=0.04)


def test_open_sora_text_encoder_is_t5_xxl():
    """google/t5-v1_1-xxl encoder: 24 layers x (4 d^2 attention + 3 d x 10240 gated FFN) with
    d = 4096, plus the 32128 x 4096 embedding = 4.76e9; 512 tokens (padding=max_length)."""
    d, ff, layers, vocab = 4096, 10240, 24, 32128
    params = layers * (4 * d * d + 3 * d * ff) + vocab * d
    encoder = load_model("open-sora-2.0").text_encoder
    assert encoder.params == pytest.approx(params, rel=0.01)
    assert encoder.tokens == 512
