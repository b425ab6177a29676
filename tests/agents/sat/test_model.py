"""SAT network: chunk masks, the flat special case, top-k reads, family masks, room frames, overfitting."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from agents.sat.config import ModelConfig
from agents.sat.data import Episodes
from agents.sat.features import N_CLASSES, OFFSETS, family_mask, room_frames
from agents.sat.model import NEG, HCAMAttention, SpatialTransformer
from envs.room_recall import SIDE, Episode, generate, visible_classes

D = 16


def test_flat_read_is_single_head_attention_with_per_slot_values() -> None:
    torch.manual_seed(0)
    attn = HCAMAttention(ModelConfig(d_model=D, n_heads=2, chunk=1, top_k=0))
    x, mem = torch.randn(2, 3, D), torch.randn(2, 5, 1, D)
    mask = torch.ones(2, 5, 1, dtype=torch.bool)
    mask[1, 3:] = False
    out, info = attn(x, mem, mask)
    logits = attn.summary_q(x) @ attn.summary_k(mem[:, :, 0] / (1 + 1e-5)).transpose(1, 2) / D**0.5
    weights = logits.masked_fill(~mask[:, None, :, 0], NEG).softmax(-1)
    expected = weights @ attn.to_out(attn.to_kv(mem[:, :, 0])[..., D:])
    torch.testing.assert_close(out, expected)
    assert info["slot"][1, :, 3:].abs().max() < 1e-6  # padded slots get no attention


def test_chunked_read_with_one_real_slot_per_chunk_equals_the_flat_read() -> None:
    torch.manual_seed(1)
    flat = HCAMAttention(ModelConfig(d_model=D, n_heads=2, chunk=1, top_k=0))
    chunked = HCAMAttention(ModelConfig(d_model=D, n_heads=2, chunk=2, top_k=0))
    chunked.load_state_dict(flat.state_dict())
    x, slots = torch.randn(1, 2, D), torch.randn(1, 4, D)
    mem = torch.stack(
        [slots, torch.randn(1, 4, D)], dim=2
    )  # (1, 4, 2, D): second slot of each chunk is padding
    mask = torch.tensor([[[True, False]] * 4])
    torch.testing.assert_close(chunked(x, mem, mask)[0], flat(x, slots[:, :, None], mask[..., :1])[0])


def test_top_k_reads_only_the_best_chunks_and_ignores_padding() -> None:
    torch.manual_seed(2)
    attn = HCAMAttention(ModelConfig(d_model=D, n_heads=2, chunk=4, top_k=1))
    x, mem = torch.randn(1, 1, D), torch.randn(1, 3, 4, D)
    mask = torch.ones(1, 3, 4, dtype=torch.bool)
    mask[0, 2, 1:] = False
    out, info = attn(x, mem, mask)
    best = int(info["chunk"][0, 0].argmax())
    assert info["selected"][0, 0].tolist() == [best]
    weights = info["slot"][0, 0]
    assert weights[best].sum() > 0.99 and weights.sum() - weights[best].sum() < 1e-6
    noisy = mem.clone()
    noisy[0, 2, 1:] = 100.0  # padding content must not matter
    torch.testing.assert_close(attn(x, noisy, mask)[0], out)


def test_logits_outside_the_query_family_are_masked() -> None:
    torch.manual_seed(3)
    model = SpatialTransformer(ModelConfig(d_model=D, n_heads=2, mlp_hidden=32, code_dim=4, chunk=8, top_k=2))
    frames = torch.randint(0, 6, (2, 3, 8, 4, 4, 3), dtype=torch.uint8)
    mask = torch.rand(2, 3, 8) > 0.3
    family = torch.tensor([[0, 1], [3, 4]])
    args = torch.tensor([[[2, -1, -1, -1], [-1, 5, -1, -1]], [[4, -1, -1, -1], [-1, -1, -1, 90]]])
    logits, infos = model(
        frames, torch.randint(0, 9, (2, 3, 8)), torch.randint(0, 96, (2, 3, 8)), mask, family, args
    )
    inside = torch.as_tensor(family_mask(family.numpy()))
    assert (
        logits.shape == (2, 2, N_CLASSES) and (logits[~inside] == NEG).all() and (logits[inside] > NEG).all()
    )
    assert len(infos) == 2 and OFFSETS[-1] == N_CLASSES == 68


def test_room_frames_hold_exactly_what_the_grid_shows() -> None:
    ep = Episode(np.random.default_rng(4), dynamic=False, steps=40, skew=0.5).run()
    n = ep.layout.n
    frames = room_frames(np.stack(ep.images), np.array(ep.dirs), np.array(ep.pos), np.array(ep.places), n)
    truth = ep.grid.grid.encode()
    checked = 0
    for t in range(40):
        x0, y0 = ep.places[t] % SIDE * (n + 1) + 1, ep.places[t] // SIDE * (n + 1) + 1  # first interior cell
        for lx, ly in zip(*np.nonzero(frames[t, ..., 0])):
            if (x0 + lx, y0 + ly) != ep.pos[t]:  # MiniGrid shows the agent's own cell as empty
                assert (frames[t, lx, ly] == truth[x0 + lx, y0 + ly]).all()
                checked += 1
    assert checked > 100 and (frames[..., 3, :, 0] == 0).all()  # 3x3 interiors leave the 4th row empty
    assert not np.isin(frames[..., 0], (2, 4)).any()  # no walls or doors: they would give the place away
    shows = [bool((visible_classes(f) == ep.layout.objects[p]).any()) for f, p in zip(frames, ep.places)]
    assert shows == ep.shown  # the room's object is in the frame exactly when the env says so


def test_a_tiny_model_overfits_a_fixed_batch() -> None:
    torch.manual_seed(5)
    static = generate(6, seed=1, dynamic=False, steps=24)
    frames = room_frames(static["images"], static["dirs"], static["pos"], static["places"], 3)
    data = {
        "frames": frames,
        "vis": static["shown"],
        **{k: static[k] for k in ("places", "objects", "patterns", "seen", "home")},
    }
    episodes = Episodes(data, data)
    rng = np.random.default_rng(0)
    items = [("Q1", i) for i in range(6)]
    batch = episodes.build(items, ["pm"] * len(items), 16, "place", 4, [["Q1", "Q2", "Q1"]] * len(items), rng)
    model = SpatialTransformer(
        ModelConfig(d_model=32, n_heads=2, mlp_hidden=64, code_dim=8, chunk=4, top_k=2)
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        logits, _ = model(*batch.inputs())
        loss = F.cross_entropy(logits.flatten(0, 1), batch.target.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    accuracy = (model(*batch.inputs())[0].argmax(-1) == batch.target).float().mean()
    assert loss.item() < 0.1 and accuracy == 1.0
