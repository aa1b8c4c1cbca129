from pathlib import Path

import pytest

from xal.ca_certs import CaBundle
from xal.errors import XalError
from xal.local.images import ImageRecipe, docker_import_argv, mmdebstrap_argv

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_bundle_reads_directories_and_files_and_fingerprints_content(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "corp.crt").write_bytes(PEM)
    (tmp_path / "dir" / "README").write_text("ignored")
    (tmp_path / "proxy.pem").write_bytes(PEM + b"x")
    bundle = CaBundle.from_paths([tmp_path / "dir", tmp_path / "proxy.pem"])
    assert [name for name, _ in bundle.certificates] == ["corp.crt", "proxy.crt"]
    changed = CaBundle.from_paths([tmp_path / "dir"])
    assert bundle.fingerprint() != changed.fingerprint()
    out = bundle.write_to(tmp_path / "out")
    assert out is not None
    assert (out / "proxy.crt").read_bytes() == PEM + b"x"
    assert CaBundle.empty().write_to(tmp_path / "none") is None


def test_bundle_rejects_non_pem_and_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "bad.crt").write_text("not a cert")
    with pytest.raises(XalError, match="is not a PEM certificate"):
        CaBundle.from_paths([tmp_path / "bad.crt"])
    with pytest.raises(XalError, match="does not exist"):
        CaBundle.from_paths([tmp_path / "missing"])


def test_recipe_digest_follows_certificates_and_argv_bakes_them_in(tmp_path: Path) -> None:
    (tmp_path / "corp.crt").write_bytes(PEM)
    bundle = CaBundle.from_paths([tmp_path / "corp.crt"])
    with_certs, without = ImageRecipe("xal-base", ca_bundle=bundle), ImageRecipe("xal-base")
    assert with_certs.digest() != without.digest()
    argv = mmdebstrap_argv(with_certs, tmp_path)
    assert any("update-ca-certificates" in a for a in argv)
    assert any(a.startswith("--customize-hook=copy-in ") and "corp.crt" in a for a in argv)
    assert argv[-2:] == ["bookworm", "-"]
    assert f"org.exasol.xal.recipe={with_certs.digest()}" in " ".join(docker_import_argv(with_certs))
