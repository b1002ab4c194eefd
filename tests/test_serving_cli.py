"""``ssvae serve`` as a process (answers, stops on a signal), ``ssvae encode`` and ``ssvae decode``."""

import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import skimage.io

from ssvae_tf import export
from ssvae_tf.commands.cli import main
from ssvae_tf.data import generate_lines
from ssvae_tf.export import export_for_serving
from ssvae_tf.model import build_vae

REPO = Path(__file__).resolve().parents[1]
SIZE = 16


@pytest.fixture(scope="module")
def model():
    return build_vae((SIZE, SIZE, 1), latent_dim=2, depth=2, filters=4, hidden_units=16, seed=0)


@pytest.fixture(scope="module")
def export_root(model, tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    export_for_serving(model, root)
    return root


def output_lines(process: subprocess.Popen) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def pump():
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def wait_for(lines: queue.Queue, pattern: str, seconds: float = 60.0) -> re.Match:
    seen = []
    while True:
        line = lines.get(timeout=seconds)
        assert line is not None, "the server exited:\n" + "".join(seen)
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.slow
def test_serve_answers_encode_and_decode_and_stops_cleanly(export_root, model, tmp_path, capsys, stop_signal):
    process = subprocess.Popen(
        [sys.executable, "-m", "ssvae_tf", "serve", "--models", str(export_root), "--port", "0",
         "--rest-port", "0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = output_lines(process)
        target, rest_target = wait_for(
            lines, r"serving .* on (127\.0\.0\.1:\d+) \(gRPC\) and (http://127\.0\.0\.1:\d+) \(REST\)").groups()

        x = generate_lines(5, SIZE, seed=2, progress=False).images
        np.save(tmp_path / "images.npy", x[..., 0])  # without the channel axis: the loader adds it
        assert main(["encode", "--server", target, str(tmp_path / "images.npy"), "--out", str(tmp_path / "z.npz")]) == 0
        with np.load(tmp_path / "z.npz") as z:
            np.testing.assert_allclose(z["z_mean"], model.encoder(x)[0].numpy(), atol=1e-5)
            np.testing.assert_allclose(z["z_log_var"], model.encoder(x)[1].numpy(), atol=1e-5)
        assert main(["decode", "--server", target, str(tmp_path / "z.npz"), "--out", str(tmp_path / "x.npy"),
                     "--png", str(tmp_path / "png")]) == 0
        decoded = np.load(tmp_path / "x.npy")
        np.testing.assert_allclose(decoded, model(x).numpy(), atol=1e-5)
        pngs = sorted((tmp_path / "png").iterdir())
        assert [p.name for p in pngs] == [f"{i:05d}.png" for i in range(5)]
        np.testing.assert_allclose(skimage.io.imread(pngs[0]) / 255, decoded[0, ..., 0], atol=0.5 / 255 + 1e-6)
        assert "encoded 5 images" in capsys.readouterr().out

        # over the REST API: the very same numbers
        assert main(["encode", "--server", rest_target, str(tmp_path / "images.npy"),
                     "--out", str(tmp_path / "z_rest.npz")]) == 0
        assert main(["decode", "--server", rest_target, str(tmp_path / "z.npz"),
                     "--out", str(tmp_path / "x_rest.npy")]) == 0
        with np.load(tmp_path / "z.npz") as z, np.load(tmp_path / "z_rest.npz") as z_rest:
            assert all(np.array_equal(z_rest[key], z[key]) for key in ("z_mean", "z_log_var"))
        np.testing.assert_array_equal(np.load(tmp_path / "x_rest.npy"), decoded)

        # images of another size are refused before they are sent, in one line naming both shapes
        np.save(tmp_path / "large.npy", np.zeros((2, 2 * SIZE, 2 * SIZE), np.float32))
        assert main(["encode", "--server", target, str(tmp_path / "large.npy"), "--out", str(tmp_path / "z2.npy")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "images have shape (32, 32)" in err and "crop or resize them to 16x16" in err
        assert not (tmp_path / "z2.npy").exists()

        process.send_signal(stop_signal)
        assert process.wait(timeout=30) == 0
        wait_for(lines, r"^stopped")
    finally:
        process.kill()
        process.wait()


def test_client_commands_fail_with_one_line(tmp_path, capsys):
    np.save(tmp_path / "images.npy", np.zeros((2, SIZE, SIZE, 1), np.float32))
    np.save(tmp_path / "z.npy", np.zeros((2, 2), np.float32))
    cases = [
        (["encode", "--server", "127.0.0.1:1", str(tmp_path / "images.npy"), "--out", str(tmp_path / "z.npy")],
         "cannot reach"),
        (["encode", "--server", "http://127.0.0.1:1", str(tmp_path / "images.npy"), "--out", str(tmp_path / "z.npy")],
         "cannot reach a model server at http://127.0.0.1:1"),
        (["decode", "--server", "http://127.0.0.1:1", "--tls", str(tmp_path / "z.npy"),
          "--out", str(tmp_path / "x.npy")],
         "credentials are for gRPC targets"),
        (["encode", str(tmp_path / "images.npy"), "--out", str(tmp_path / "z.txt")], "must end in .npy or .npz"),
        (["encode", str(tmp_path / "nothing.npy"), "--out", str(tmp_path / "z2.npy")], "does not exist"),
        (["decode", str(tmp_path / "z.npy")], "nothing to write"),
        (["decode", str(tmp_path / "images.npy"), "--out", str(tmp_path / "x.npy")], "expected latent vectors"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("ssvae: error: ") and message in err, err
    assert not (tmp_path / "x.npy").exists()


def test_serve_refuses_a_missing_root(tmp_path, capsys):
    assert main(["serve", "--models", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_roundtrip_exports_serves_and_matches_keras(model, tmp_path, capsys):
    from ssvae_tf.commands.demo import SERVING_README, export_and_serve_roundtrip

    model.save(tmp_path / "model.keras")
    report = export_and_serve_roundtrip(tmp_path / "model.keras", tmp_path / "export", n_images=3)
    assert report in capsys.readouterr().out
    assert export.model_versions(tmp_path / "export" / "ssvae_encoder") == [1]
    differences = [float(v) for v in re.findall(r"(?:z_mean|images) ([0-9.e+-]+)", report)]
    assert len(differences) == 2 and max(differences) < 1e-5
    assert str(SERVING_README) in report and SERVING_README.is_file()


def test_the_command_modules_and_contracts_import_neither_tensorflow_nor_grpc():
    probe = ("import sys, serving.contract, serving.dev_server, ssvae_tf.export_contract, ssvae_tf.commands.export, "
             "ssvae_tf.commands.serve, ssvae_tf.commands.encode_decode, ssvae_tf.commands.demo; "
             "print(sorted({'tensorflow', 'grpc'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# ----------------------------------------------------------------- option values: one line, exit 2
@pytest.mark.parametrize("argv, message", [
    (["serve", "--models", "exports", "--max-message-mb", "1e12"],
     "--max-message-mb must be a number from 0.1 to 2047 MiB, got 1e+12"),
    (["serve", "--models", "exports", "--poll-seconds", "inf"],
     "--poll-seconds must be a number from 0.1 to 86400 s, got inf"),
    (["serve", "--models", "exports", "--poll-seconds", "nan"], "got nan"),
    (["serve", "--models", "exports", "--port", "70000"], "--port must be an integer from 0 to 65535, got 70000"),
    (["serve", "--models", "exports", "--rest-port", "-1"], "--rest-port must be an integer from 0 to 65535, got -1"),
    (["serve", "--models", "exports", "--workers", "0"], "--workers must be an integer from 1 to 1024, got 0"),
    (["serve", "--models", "exports", "--rest-max-connections", "0"],
     "--rest-max-connections must be an integer from 1 to 65536, got 0"),
    (["serve", "--models", "exports", "--rest-idle-seconds", "0"],
     "--rest-idle-seconds must be an integer from 1 to 86400 s, got 0"),
    (["serve", "--models", "exports", "--monitoring"],
     "monitoring serves /monitoring/prometheus/metrics on the REST port: give a REST port too"),
    (["serve", "--models", "exports", "--enable-batching", "--batching-parameters-file", "none.config"],
     "none.config is not a TF Serving batching parameters file"),
    (["export", "--model", "m.keras", "--out", "exports", "--version", "100000000000000000000"],
     "--version must be an integer from 1 to 9223372036854775807 (TF Serving's versions are positive int64 numbers), "
     "got 100000000000000000000"),
    (["export", "--model", "m.keras", "--out", "exports", "--version", "0"], "got 0"),
    (["encode", "images.npy", "--out", "z.npy", "--model-version", "9223372036854775808"],
     "--model-version must be an integer from 1 to 9223372036854775807"),
    (["encode", "images.npy", "--out", "z.npy", "--timeout", "inf"],
     "--timeout must be a number from 0.001 to 86400 s, got inf"),
    (["decode", "z.npy", "--out", "x.npy", "--batch-size", "0"],
     "--batch-size must be an integer from 1 to 2147483647, got 0"),
    (["decode", "z.npy", "--out", "x.npy", "--max-message-mb", "1e12"],
     "--max-message-mb must be a number from 0.1 to 2047"),
], ids=lambda value: value[0] if isinstance(value, list) else None)
def test_out_of_range_options_fail_in_one_line(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)  # nothing is read or written: the values are checked first
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ssvae: error: ") and message in err, err
    assert list(tmp_path.iterdir()) == []


def test_client_options_are_checked_before_connecting():
    from serving.client import SSVAEClient

    for kwargs, message in [({"version": 2**63}, "version must be an integer from 1 to 9223372036854775807"),
                            ({"version": 0}, "got 0"),
                            ({"timeout": float("inf")}, "timeout must be a number of seconds in (0, 86400]"),
                            ({"timeout": float("nan")}, "got nan"),
                            ({"max_message_bytes": 2**31},
                             "max_message_bytes must be an integer from 65537 to 2147483647"),
                            ({"max_batch_size": 0}, "max_batch_size must be an integer from 1")]:
        with pytest.raises(ValueError) as refused:
            SSVAEClient("127.0.0.1:1", **kwargs)
        assert message in str(refused.value) and "\n" not in str(refused.value)


# ----------------------------------------------------------------- image layouts and values: client and `ssvae encode`
@pytest.fixture(scope="module")
def local_server(export_root):
    from serving.dev_server import start_server

    with start_server(export_root, port=0) as server:
        yield server


def test_the_client_and_the_encode_command_take_the_same_layouts(local_server, model, tmp_path, capsys):
    from serving.client import SSVAEClient

    x = generate_lines(3, SIZE, seed=4, progress=False).images  # (3, 16, 16, 1)
    expected = model.encoder(x)[0].numpy()
    layouts = {"(n, H, W, 1)": x, "(n, H, W)": x[..., 0], "(H, W)": x[0, ..., 0]}
    with SSVAEClient(local_server.target) as client:
        for name, images in layouts.items():
            z_mean, _ = client.encode(images)
            np.testing.assert_allclose(z_mean, expected[: len(z_mean)], atol=1e-5, err_msg=name)
    for name, images in layouts.items():
        path = tmp_path / f"{len(images.shape)}.npz"
        np.savez(path, images=images)
        out = tmp_path / f"z{len(images.shape)}.npy"
        assert main(["encode", "--server", local_server.target, str(path), "--out", str(out)]) == 0
        np.testing.assert_allclose(np.load(out), expected[: len(np.load(out))], atol=1e-5, err_msg=name)
    assert "encoded 1 images" in capsys.readouterr().out


@pytest.mark.parametrize("images, message", [
    (np.full((2, SIZE, SIZE), 1.5, np.float32), "images hold values from 1.5 to 1.5; expected values in [0, 1]"),
    (np.full((2, SIZE, SIZE), 255, np.uint8),
     "from 255 to 255; expected values in [0, 1] (8-bit images: divide by 255)"),
    (-np.ones((SIZE, SIZE)), "images hold values from -1 to -1; expected values in [0, 1]"),
    (np.full((1, SIZE, SIZE, 1), np.inf), "images holds NaN or infinite values; expected finite numbers"),
    (np.zeros((2, SIZE, SIZE, 3)), "images have shape (16, 16, 3) but the model ssvae_encoder"),
    (np.zeros((SIZE, 2 * SIZE)), "images have shape (16, 32) but"),
    (np.zeros((0, SIZE, SIZE)), "images has shape (0, 16, 16); expected at least one image"),
], ids=["above-one", "8-bit", "negative", "infinite", "rgb", "single-of-another-size", "empty"])
def test_images_the_model_cannot_take_are_refused_before_sending(local_server, tmp_path, capsys, images, message):
    from serving.client import SSVAEClient

    with SSVAEClient(local_server.target) as client, pytest.raises(ValueError) as refused:
        client.encode(images)
    assert message in str(refused.value) and "\n" not in str(refused.value)
    np.save(tmp_path / "images.npy", images)
    assert main(["encode", "--server", local_server.target, str(tmp_path / "images.npy"),
                 "--out", str(tmp_path / "z.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "z.npy").exists()
