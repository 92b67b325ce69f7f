"""BicycleGAN: official architecture and weights, the training step's semantics, multimodal inference, diversity.

The numbers pinned here were computed against the official junyanz/BicycleGAN code (``models/networks.py``,
``define_G``/``define_E``/``define_D`` with the default options), instantiated outside the repository.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from translation_zoo import from_official, weights
from translation_zoo.hub import OfficialWeightsError, to_official
from translation_zoo.models.base import n_params
from translation_zoo.models.bicyclegan import BicycleGAN, UnetBlock, UnetBlockWithZ

from conftest import make_batch

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(**kw) -> BicycleGAN:
    torch.manual_seed(0)
    return BicycleGAN(**{**BicycleGAN.tiny_config, **kw})


def benchmark():
    spec = importlib.util.spec_from_file_location(
        "bicyclegan_diversity", ROOT / "benchmarks" / "bicyclegan_diversity.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------------ faithfulness
@pytest.mark.parametrize(
    "options, counts",
    [
        # official defaults (3 -> 3 channels): G unet_256 where_add=all, E resnet_256, D/D2 basic_256_multi x 2 scales
        ({}, {"gen": 54_794_627, "encoder": 2_590_032, "disc": 3_458_978, "disc2": 3_458_978}),
        ({"where_add": "input"}, {"gen": 54_417_795}),
        ({"netE": "conv_256"}, {"encoder": 2_760_656}),
        ({"conditional_D": True}, {"disc": 3_463_586, "disc2": 3_463_586}),
        ({"upsample": "bilinear"}, {"gen": 39_538_435}),
        ({"input_nc": 1}, {"gen": 54_792_579}),  # edges2shoes
        ({"input_nc": 1, "where_add": "input"}, {"gen": 54_415_747}),
    ],
)
def test_parameter_counts_equal_the_official_networks(options, counts):
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        model = BicycleGAN(**options)
    assert {name: n_params(getattr(model, name)) for name in counts} == counts


def test_state_dict_keys_are_the_official_layout():
    with torch.device("meta"):
        model = BicycleGAN()
    g = list(model.gen.state_dict())
    assert len(g) == 32 and g[:3] == ["model.down.0.weight", "model.down.0.bias", "model.submodule.down.1.weight"]
    assert g[-3:] == ["model.submodule.up.1.bias", "model.up.1.weight", "model.up.1.bias"]
    e = list(model.encoder.state_dict())
    assert e[:6] == ["fc.0.weight", "fc.0.bias", "fcVar.0.weight", "fcVar.0.bias", "conv.0.weight", "conv.0.bias"]
    assert e[6:12] == [f"conv.1.{k}" for k in ("conv.2.weight", "conv.2.bias", "conv.5.0.weight", "conv.5.0.bias")] + [
        "conv.1.shortcut.1.weight",
        "conv.1.shortcut.1.bias",
    ]
    assert len(e) == 30 and e[-1] == "conv.4.shortcut.1.bias"
    d = [f"model_{s}.{i}.{p}" for s in (0, 1) for i in (0, 2, 5, 8, 11) for p in ("weight", "bias")]
    assert list(model.disc.state_dict()) == d == list(model.disc2.state_dict())
    with torch.device("meta"):
        g_input = list(BicycleGAN(where_add="input").gen.state_dict())
    assert len(g_input) == 32 and g_input[:3] == [
        "model.model.0.weight",
        "model.model.0.bias",
        "model.model.1.model.1.weight",
    ]
    assert g_input[-3:] == ["model.model.1.model.5.bias", "model.model.3.weight", "model.model.3.bias"]


def test_defaults_are_the_official_training_options():
    hp = tiny().hparams
    assert (hp.lambda_l1, hp.lambda_kl, hp.lambda_z, hp.lambda_gan, hp.lambda_gan2) == (10.0, 0.01, 0.5, 1.0, 1.0)
    assert (hp.gan_mode, hp.init_type, hp.init_gain, hp.lr, hp.beta1, hp.beta2) == (
        "lsgan",
        "xavier",
        0.02,
        2e-4,
        0.5,
        0.999,
    )
    assert (hp.n_epochs, hp.n_epochs_decay, hp.lr_policy) == (100, 100, "linear")
    with torch.device("meta"):
        d = BicycleGAN().hparams
    assert (d.nz, d.where_add, d.norm, d.nl, d.upsample, d.num_Ds, d.use_dropout) == (
        8,
        "all",
        "instance",
        "relu",
        "basic",
        2,
        False,
    )


def test_add_input_skip_connections_carry_the_activated_input_as_officially():
    """The official in-place LeakyReLU rewrites a level's input before the skip reads it (add_input), not so in
    add_all (z is concatenated into a new tensor first)."""
    block = UnetBlock(4, 4, 8, None, None, lambda: torch.nn.ReLU(True), "basic", innermost=True)
    x = torch.randn(1, 4, 8, 8)
    out = block(x.clone())
    assert torch.equal(out[:, 4:], torch.nn.functional.leaky_relu(x, 0.2))
    block_z = UnetBlockWithZ(4, 4, 8, 2, None, None, lambda: torch.nn.ReLU(True), "basic", innermost=True)
    out = block_z(x.clone(), torch.randn(1, 2))
    assert torch.equal(out[:, 4:], x)


# ---------------------------------------------------------------------------------------------- official weights
def randomise(model: BicycleGAN, seed: int) -> BicycleGAN:
    """Trained-looking weights: every parameter and batch-norm statistic random."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(7)
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=g) * (0.1 if t.dim() >= 2 else 0.3))
    return model.eval()


# (where_add, upsample, norm, netE, input_nc, output_nc, nz, conditional_D)
OFFICIAL_CASES = [
    ("all", "basic", "instance", "resnet_64", 1, 3, 8, False),  # the edges2shoes/handbags release layout
    ("input", "basic", "instance", "resnet_64", 3, 3, 8, True),
    ("all", "bilinear", "batch", "conv_64", 3, 3, 4, False),
    ("input", "bilinear", "none", "resnet_64", 3, 1, 5, False),
]


@pytest.mark.parametrize("case", OFFICIAL_CASES, ids=lambda c: "-".join(map(str, c[:4])))
def test_official_weights_load_without_options_and_give_the_same_outputs(case):
    where_add, upsample, norm, netE, input_nc, output_nc, nz, conditional = case
    source = randomise(
        BicycleGAN(
            input_nc=input_nc,
            output_nc=output_nc,
            nz=nz,
            netG="unet_64",
            netE=netE,
            ngf=4,
            nef=4,
            ndf=4,
            where_add=where_add,
            upsample=upsample,
            norm=norm,
            conditional_D=conditional,
            num_Ds=1 if conditional else 2,
            netD2="basic_128_multi",
        ),
        seed=1,
    )
    official = to_official(source)  # the official key layout: {"G", "E", "D", "D2"}
    loaded = from_official("bicycle_gan", **official)
    expected = {
        "where_add": where_add,
        "upsample": upsample,
        "netG": "unet_64",
        "netE": netE,
        "input_nc": input_nc,
        "output_nc": output_nc,
        "nz": nz,
        "ngf": 4,
        "nef": 4,
        "ndf": 4,
        "conditional_D": conditional,
        "num_Ds": 1 if conditional else 2,
        "netD2": "basic_128_multi",
    }
    if norm != "none" or where_add == "input":  # add_all + none looks like instance norm (neither has keys)
        expected["norm"] = norm
    assert {k: loaded.hparams[k] for k in expected} == expected
    x = torch.rand(2, input_nc, 64, 64) * 2 - 1
    z, style = torch.randn(2, nz), torch.rand(2, output_nc, 64, 64) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(x, z=z), source(x, z=z))
        assert torch.equal(loaded(x, style=style), source(x, style=style))
        judged = torch.cat([x, style], 1) if conditional else style
        assert all(torch.equal(a, b) for a, b in zip(loaded.disc(judged), source.disc(judged)))


def test_a_release_of_g_and_e_saved_by_pytorch_before_0_4_loads():
    """The released files (G and E only) come from 2017: InstanceNorm then saved running statistics, which the
    official load_networks (and ours) drop."""
    source = randomise(BicycleGAN(input_nc=1, netG="unet_64", netE="resnet_64", ngf=4, nef=4, ndf=4), seed=2)
    official = to_official(source)
    g, e = dict(official["G"]), dict(official["E"])
    for sd, norms in ((g, ["model.submodule.down.2", "model.submodule.up.2"]), (e, ["conv.1.conv.0", "conv.1.conv.3"])):
        for prefix in norms:
            sd[f"{prefix}.running_mean"], sd[f"{prefix}.running_var"] = torch.zeros(4), torch.ones(4)
    loaded = from_official("bicyclegan", G=g, E=e)
    assert loaded.disc is not None and loaded.hparams.norm == "instance"
    x, z = torch.rand(1, 1, 64, 64) * 2 - 1, torch.randn(1, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x, z=z), source(x, z=z))


# The releases of the official pretrained_models/download_model.sh, with the options of scripts/test_<name>.sh.
RELEASES = {"edges2shoes": 1, "edges2handbags": 1, "night2day": 3, "facades": 3, "maps": 3}  # name: input_nc


def test_the_catalogue_holds_the_official_releases_of_g_and_e():
    entries = {e.short_name: e for e in BicycleGAN.released_weights()}
    assert set(entries) == set(RELEASES)
    for name, entry in entries.items():
        assert [(f.network, f.url, f.filename) for f in entry.files] == [
            (
                net,
                f"http://efrosgans.eecs.berkeley.edu/BicycleGAN//models/{name}_net_{net}.pth",
                f"latest_net_{net}.pth",
            )
            for net in ("G", "E")
        ]
        assert (entry.input_nc, entry.output_nc, entry.size) == (RELEASES[name], 3, 512 if name == "maps" else 256)
        assert entry.options["input_nc"] == RELEASES[name] and entry.dataset == f"pix2pix/{name}"
    assert weights.resolve("bicyclegan/edges2shoes") is weights.catalogue()["bicyclegan/edges2shoes"]


def test_a_release_put_in_the_cache_by_hand_loads_and_gives_the_official_outputs(tmp_path, monkeypatch):
    """``load_pretrained("bicyclegan/edges2shoes")`` on official-layout G and E files (the release's layout and
    options, narrower so the test is quick): same outputs for a given z and for an exemplar, nothing downloaded."""
    monkeypatch.setenv("TRANSLATION_ZOO_DATA", str(tmp_path))
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    entry = weights.resolve("bicyclegan/edges2shoes")
    source = randomise(BicycleGAN(**{**entry.options, "ngf": 4, "nef": 4, "ndf": 4}), seed=5)
    official = to_official(source)
    folder = weights.weights_dir(entry)
    folder.mkdir(parents=True)
    for f in entry.files:
        torch.save(official[f.network], folder / f.filename)
    model = weights.load_pretrained("bicyclegan/edges2shoes", ngf=4, nef=4, progress=False)
    assert model.inference_size == (256, 256) and not model.training
    assert model.hparams.where_add == "all" and model.hparams.input_nc == 1 and model.hparams.nz == 8
    x, z, style = torch.rand(1, 1, 256, 256) * 2 - 1, torch.randn(1, 8), torch.rand(1, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model(x, z=z), source(x, z=z))
        assert torch.equal(model(x, style=style), source(x, style=style))
    with pytest.raises(OfficialWeightsError, match="ngf"):  # the entry's options are checked against the weights
        weights.load_pretrained("bicyclegan/edges2shoes", ngf=8, nef=4, progress=False)


def test_official_weights_errors_name_the_option_to_set():
    source = randomise(BicycleGAN(where_add="input", nz=12, netG="unet_64", netE="resnet_64", ngf=4, nef=4), seed=3)
    official = to_official(source)
    # where_add="input" hides nz inside the first conv (input_nc + nz channels): given alone, G is read with nz=8,
    # here wrongly (input_nc 7), and a warning says to pass nz or E.
    with pytest.warns(UserWarning, match="pass nz"):
        assert from_official("bicyclegan", G=official["G"]).hparams.input_nc == 3 + 12 - 8
    assert from_official("bicyclegan", G=official["G"], nz=12).hparams.input_nc == 3
    assert from_official("bicyclegan", G=official["G"], E=official["E"]).hparams.input_nc == 3
    with pytest.raises(OfficialWeightsError, match="netG"):
        from_official("bicyclegan", G=official["G"], E=official["E"], netG="unet_128")
    from translation_zoo.models import Pix2Pix

    with pytest.raises(OfficialWeightsError, match="unrecognised BicycleGAN generator"):
        from_official("bicyclegan", G=Pix2Pix(netG="resnet_6blocks", ngf=4).gen.state_dict())


# ----------------------------------------------------------------------------------------------------- training
class ListDataset(torch.utils.data.Dataset):
    def __init__(self, batch, n):
        self.items = [{k: v[i] for k, v in batch.items()} for i in range(n)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def fit_one_step(model: BicycleGAN, tmp_path) -> None:
    batch = make_batch(model, n=2)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, DataLoader(ListDataset(batch, 2), batch_size=2))


@pytest.mark.parametrize(
    "preset, networks",
    [
        ("bicyclegan", {"gen", "encoder", "disc", "disc2"}),
        ("cvae_gan", {"gen", "encoder", "disc"}),
        ("cvae_gan++", {"gen", "encoder", "disc", "disc2"}),
        ("clr_gan", {"gen", "encoder", "disc2"}),
        ("pix2pix_noise", {"gen", "disc"}),
    ],
)
def test_presets_are_the_paper_variants_and_train_every_network(preset, networks, tmp_path):
    model = BicycleGAN.preset(preset, **BicycleGAN.tiny_config)
    present = {n for n in ("gen", "encoder", "disc", "disc2") if getattr(model, n) is not None}
    assert present == networks
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    fit_one_step(model, tmp_path)
    unchanged = [n for n, p in model.named_parameters() if torch.equal(p, before[n])]
    # cLR-GAN regresses z on E's mean only: its log-variance head (kept, as officially) has nothing to learn.
    assert unchanged == (["encoder.fcVar.0.weight", "encoder.fcVar.0.bias"] if preset == "clr_gan" else []), unchanged


def test_latent_regression_updates_g_but_not_e(tmp_path):
    """BicycleGAN trains E with L1^VAE and KL only; ||E(G(A, z)) − z||₁ reaches G through E's input."""
    model = tiny()
    fake = model.gen(torch.rand(2, 1, 32, 32), torch.randn(2, 4))
    model._encode_with_fixed_weights(fake).abs().sum().backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.gen.parameters())
    # cLR-GAN alone has no other signal for E: there the latent loss trains E (the preset), or E stays fixed.
    frozen_e = BicycleGAN.preset("clr_gan", **{**BicycleGAN.tiny_config, "latent_updates_encoder": False})
    before = [p.detach().clone() for p in frozen_e.encoder.parameters()]
    fit_one_step(frozen_e, tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(before, frozen_e.encoder.parameters()))


def test_a_batch_of_one_is_skipped_as_officially():
    assert tiny().training_step(make_batch(tiny(), n=1), 0) is None


# ---------------------------------------------------------------------------------------------------- inference
def test_codes_are_sampled_per_call_and_given_codes_are_deterministic():
    model = tiny().eval()
    x = make_batch(model, n=3)["A"]
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))
        z = torch.randn(3, 4)
        assert torch.equal(model(x, z=z), model(x, z=z))
        one = model(x, z=z[:1])  # one code for every input
        assert torch.equal(one, model(x, z=z[:1].expand(3, -1)))


def test_style_is_the_encoder_mean_of_the_exemplar_resized_to_its_input():
    model = tiny().eval()
    x, b = make_batch(model, n=2)["A"], make_batch(model, n=2, seed=1)["B"]
    with torch.no_grad():
        mu = model.encoder(b)[0]
        assert torch.equal(model(x, style=b), model(x, z=mu))
        big = torch.nn.functional.interpolate(b, size=(64, 64), mode="nearest")
        assert torch.allclose(model(x, style=big), model(x, z=mu), atol=1e-5)
    with pytest.raises(ValueError, match="not both"):
        model(x, z=mu, style=b)


def test_sync_shares_one_code_across_inputs_and_prediction_batches():
    model = tiny(sync=True).eval()
    x = make_batch(model, n=1)["A"].expand(3, -1, -1, -1)  # three copies of one input
    with torch.no_grad():
        out = model(x)
        assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])
        model.predict_conditions, model.predict_num_samples = {}, 2
        model.on_predict_start()
        first = model.predict_step({"A": x[:2], "path": None}, 0)["samples"]
        second = model.predict_step({"A": x[2:], "path": None}, 1)["samples"]
        assert torch.equal(first[0][0], second[0][0]) and torch.equal(first[1][1], second[1][0])
        assert not torch.equal(first[0], first[1])
    unsynced = tiny().eval()
    with torch.no_grad():
        assert not torch.equal(*unsynced(x)[:2])


def test_inference_spec_takes_z_or_the_style_image_as_second_input():
    model = tiny().eval()
    x = make_batch(model)["A"]
    spec = model.inference_spec()
    assert set(spec.extra_inputs) == {"z"} and spec.extra_inputs["z"].shape == (1, 4)
    assert spec.size_multiple == 32 and spec.input_nc == 1
    z = torch.randn(2, 4)
    style = make_batch(model, seed=2)["B"]
    styled = model.inference_spec(style=style)
    assert set(styled.extra_inputs) == {"style"}
    with torch.no_grad():
        assert torch.equal(spec.module(x, z), model(x, z=z))
        assert torch.equal(styled.module(x, style), model(x, style=style))
        traced = torch.jit.trace(styled.module, (x, style))
        assert torch.allclose(traced(x, style), model(x, style=style), atol=1e-6)
    assert "style" not in BicycleGAN.preset("pix2pix_noise", **BicycleGAN.tiny_config).inference_conditions()


# ---------------------------------------------------------------------------------------------------- diversity
def test_a_model_that_ignores_z_scores_zero_diversity():
    bench = benchmark()
    model = randomise(tiny(use_dropout=False), seed=4)  # xavier(0.02) outputs are all ≈ 0
    x = make_batch(model, n=4)["A"]
    distance = bench.FeatureDistance("digits_mnist")
    assert bench.consecutive_pair_diversity(bench.sample(model, x, 5), distance) > 1e-3
    with torch.no_grad():  # cut z out of G: zero the weights of the z channels of every level's first conv
        for block in model.gen.modules():
            if isinstance(block, UnetBlockWithZ):
                block.down[-1 if block.outermost else 1].weight[:, -block.nz :] = 0
    assert bench.consecutive_pair_diversity(bench.sample(model, x, 5), distance) == 0.0


# The learning test's budget: BATCHES batches of BATCH coarse digits per model. 800 took 99 s in all inside the
# heavy-run lock (training 51 s + 34 s); 600 keeps it under 90 s.
BATCHES, BATCH = 600, 16


# Not run by default (run=False): a known failure that cost 163 s of the CI's 30 minutes on its 2-core machine.
# `pytest --runxfail tests/test_bicyclegan.py -k diverse` runs it.
@pytest.mark.slow
@pytest.mark.xfail(
    run=False,
    reason="the paper's claim is not shown at a CPU test's budget: after 800-1200 batches BicycleGAN's diversity is "
    "0.008-0.020 (7-17% of the real digits' 0.118) against pix2pix+noise's 0.007 (6%), from seed to seed; the "
    "test asks for 25% and 3x (benchmarks/RESULTS.md; issue 14 stays open)",
)
def test_bicyclegan_is_more_diverse_than_pix2pix_noise():
    """The paper's claim in miniature (Fig. 6): on coarse → digit (an 8x8 block average in, the 32x32 MNIST digit
    out: many real digits share one input), pix2pix+noise learns to ignore z while BicycleGAN's random codes give
    different digits, at comparable realism (FID in the MNIST classifier's space). Diversity is read against the
    real variety: the same protocol on the real digits whose inputs are nearest to each test input."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        bench = benchmark()
        results = bench.evaluate(
            ["bicyclegan", "pix2pix_noise"], task="coarse", iters=BATCHES, batch_size=BATCH, inputs=50, samples=10
        )
    finally:
        torch.set_num_threads(before)
    print(f"\nBicycleGAN coarse -> digit: {results}")
    bicycle, baseline = results["bicyclegan"], results["pix2pix_noise"]
    real = results[bench.REAL_SHARED]["diversity"]
    # The paper's Fig. 6 (LPIPS, edges2shoes): pix2pix+noise near zero, BicycleGAN a sizeable part of real images'.
    assert baseline["diversity"] < 0.08 * real, results  # collapsed: z ignored
    assert bicycle["diversity"] > 0.25 * real and bicycle["diversity"] > 3 * baseline["diversity"], results
    assert bicycle["fid"] < 2 * baseline["fid"] + 10, results  # comparable realism
