"""`px-plugin keygen`, `sign` and `verify`: keys, signatures and their offline verification."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import click
from pydantic import ValidationError

from pipeline.cli.options import format_option, registry_options
from pipeline.cli.vocabulary import Command, emit
from pipeline.errors import InputError
from pipeline.models.signing import ReleasePredicate
from pipeline.packaging import inspect_package
from pipeline.packaging.archive import read_package_manifest
from pipeline.signing.artifact import (
    SignRequest,
    VerifyRequest,
    default_builder,
    load_signing_policy,
    sign_artifact,
    verify_artifact,
    write_keypair,
)
from pipeline.signing.keys import passphrase_for
from pipeline.signing.statement import check_release_names
from pipeline.signing.trust import TrustInputs

DEFAULT_POLICY = Path("policies/signing.yaml")

FilePath = click.Path(dir_okay=False, path_type=Path)
ExistingFile = click.Path(exists=True, dir_okay=False, path_type=Path)


def _passphrase(confirm: bool) -> bytes:
    """The key passphrase: $PX_PASSPHRASE, else asked for on a terminal (never echoed)."""
    return passphrase_for(os.environ, confirm=confirm)


@click.command(cls=Command, renamed={"--out": "--output"})
@click.option(
    "-o",
    "--output",
    "prefix",
    type=FilePath,
    default=Path("powerx-signing"),
    show_default=True,
    help="Writes OUTPUT.key (encrypted) and OUTPUT.pub.",
)
@click.option("--force", is_flag=True, help="Replace an existing key pair.")
@format_option()
def keygen(prefix: Path, force: bool, output_format: str) -> int:
    """Make an ECDSA P-256 key pair; the private key is encrypted with a passphrase.

    The passphrase comes from $PX_PASSPHRASE, or is asked for twice.
    """
    files = write_keypair(prefix, _passphrase(confirm=True), force=force)
    data = {"privateKey": str(files.private), "publicKey": str(files.public), "keyId": files.key_id}
    text = (
        f"private key: {files.private} (keep it secret)\n"
        f"public key:  {files.public}\n"
        f"key id:      {files.key_id}\n"
        f"trust it: powerx trust add-key NAME --public-key {files.public}\n"
    )
    emit(output_format, data, text)
    return 0


@click.command()
@click.argument("artifact", type=ExistingFile)
@click.option("--key", type=ExistingFile, help="Sign offline with this private key (else keyless).")
@click.option(
    "--identity-token",
    envvar="PX_IDENTITY_TOKEN",
    help="OIDC token for keyless signing [default: ambient credentials in CI].",
)
@click.option("--staging", is_flag=True, help="Keyless: use Sigstore's staging instance.")
@click.option("--plugin", "plugin", help="The plugin's name [default: from a .pxp's plugin.yaml].")
@click.option("--version", "plugin_version", help="The plugin's version [default: from a .pxp].")
@click.option("--source-commit", required=True, help="The git commit the artifact was built from.")
@click.option("--builder", default=None, help="Who built it [default: this CI run or host].")
@click.option(
    "--not-before",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]),
    help="Key mode: the signature is not valid before this time.",
)
@click.option(
    "--not-after",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]),
    help="Key mode: the signature expires at this time.",
)
@click.option(
    "-o", "--output", type=FilePath, help="Bundle path [default: ARTIFACT.sigstore.json]."
)
@format_option()
def sign(
    artifact: Path,
    key: Path | None,
    identity_token: str | None,
    staging: bool,
    plugin: str | None,
    plugin_version: str | None,
    source_commit: str,
    builder: str | None,
    not_before: datetime | None,
    not_after: datetime | None,
    output: Path | None,
    output_format: str,
) -> int:
    """Sign ARTIFACT: a Sigstore bundle over an in-toto statement of the release."""
    if key is None and (not_before or not_after):
        raise InputError("--not-before/--not-after go with --key (keyless certificates expire)")
    if plugin is None or plugin_version is None:
        if artifact.suffix != ".pxp":
            raise InputError("--plugin and --version are needed to sign anything but a .pxp")
        manifest = read_package_manifest(artifact)
        plugin, plugin_version = plugin or manifest.name, plugin_version or manifest.version
    predicate = _predicate(plugin, plugin_version, source_commit, builder, not_before, not_after)
    result = sign_artifact(
        SignRequest(
            artifact=artifact,
            predicate=predicate,
            output=output,
            key=key,
            passphrase=_passphrase(confirm=False) if key is not None else None,
            identity_token=identity_token,
            staging=staging,
        )
    )
    data = {
        "artifact": str(artifact),
        "digest": f"sha256:{result.digest}",
        "mode": result.mode,
        "bundle": str(result.bundle),
        "plugin": plugin,
        "version": plugin_version,
    }
    text = (
        f"signed {artifact} (sha256:{result.digest}, {result.mode} mode)\nbundle: {result.bundle}\n"
    )
    emit(output_format, data, text)
    return 0


def _predicate(
    plugin: str,
    version: str,
    source_commit: str,
    builder: str | None,
    not_before: datetime | None,
    not_after: datetime | None,
) -> ReleasePredicate:
    data: dict[str, object] = {
        "plugin": plugin,
        "version": version,
        "sourceCommit": source_commit,
        "builder": builder or default_builder(),
    }
    for name, value in (("notBefore", not_before), ("notAfter", not_after)):
        if value is not None:
            data[name] = value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return ReleasePredicate.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise InputError(
            f"cannot sign: {field}: {first['msg'].removeprefix('Value error, ')}",
            hint="--version takes a semantic version, --source-commit a full git commit id",
        ) from None


@click.command()
@click.argument("artifact")
@click.option("--bundle", type=ExistingFile, help="The bundle [default: ARTIFACT.sigstore.json].")
@click.option("--identity", help="Trust only this keyless identity (with --issuer).")
@click.option(
    "--identity-regexp", help="Trust keyless identities matching this regex (with --issuer)."
)
@click.option("--issuer", help="The OIDC issuer of --identity.")
@click.option("--key", "keys", type=ExistingFile, multiple=True, help="Trust only this public key.")
@click.option("--staging", is_flag=True, help="Verify against Sigstore's staging instance.")
@click.option(
    "--trusted-root", type=ExistingFile, help="A private Sigstore instance's trusted_root.json."
)
@click.option(
    "--policy",
    type=ExistingFile,
    help="Signing policy [default: policies/signing.yaml when it exists].",
)
@click.option("--env", "environment", help="Apply this environment's stricter signing rules.")
@registry_options()
@format_option()
def verify(
    artifact: str,
    bundle: Path | None,
    identity: str | None,
    identity_regexp: str | None,
    issuer: str | None,
    keys: tuple[Path, ...],
    staging: bool,
    trusted_root: Path | None,
    policy: Path | None,
    environment: str | None,
    registry_credentials_env: str | None,
    ca_file: Path | None,
    output_format: str,
) -> int:
    """Verify ARTIFACT's signature, offline: digest, signature, signer, validity, revocation.

    ARTIFACT is a file, or oci://HOST/REPOSITORY@sha256:DIGEST: the package is pulled from
    the registry with its signature (a referrer); none is "unsigned" (exit 1).
    Explicit --identity/--issuer or --key override the policy's signers, as with
    `cosign verify-blob`. Exit 0 verified, 1 refused, 2 bad input.
    """
    policy_path = policy or (DEFAULT_POLICY if DEFAULT_POLICY.is_file() else None)
    trust = TrustInputs.from_options(
        load_signing_policy(policy_path) if policy_path else None,
        identity=identity,
        identity_regexp=identity_regexp,
        issuer=issuer,
        public_keys=tuple(path.read_bytes() for path in keys),
        staging=staging,
        trusted_root=trusted_root,
    )
    if not artifact.startswith("oci://"):
        return _verify_file(
            _existing(artifact), bundle, trust, environment, output_format, shown=artifact
        )
    if bundle is not None:
        raise InputError(
            "--bundle does not go with an oci:// artifact",
            hint="its signature is the Sigstore bundle stored as a referrer in the registry",
        )
    from pipeline.store.oci.store import RegistryAccess, pull_signed

    with tempfile.TemporaryDirectory(prefix="px-verify-") as folder:
        access = RegistryAccess(registry_credentials_env, ca_file)
        pulled = pull_signed(artifact, Path(folder), access)
        pulled_bundle = pulled.package.with_name(pulled.package.name + ".sigstore.json")
        pulled_bundle.write_bytes(pulled.bundle)
        return _verify_file(
            pulled.package, pulled_bundle, trust, environment, output_format, shown=artifact
        )


def _existing(artifact: str) -> Path:
    path = Path(artifact)
    if not path.is_file():
        raise InputError(
            f"no artifact file {artifact}",
            hint="give a .pxp file, or oci://HOST/REPOSITORY@sha256:DIGEST",
        )
    return path


def _verify_file(
    artifact: Path,
    bundle: Path | None,
    trust: TrustInputs,
    environment: str | None,
    output_format: str,
    *,
    shown: str,
) -> int:
    """Verify a local artifact file against its bundle and print the result as `shown`."""
    verification = verify_artifact(
        VerifyRequest(artifact, trust, datetime.now(UTC), bundle=bundle, environment=environment)
    )
    if artifact.suffix == ".pxp":  # a package must also be sound inside: paths, checksums
        package = inspect_package(artifact)
        check_release_names(verification.release, package.manifest.name, package.manifest.version)
        verification_note = (
            f"package {package.manifest.ref}: {len(package.files)} files, checksums ok"
        )
    else:
        verification_note = ""
    who = verification.signer + (f" ({verification.issuer})" if verification.issuer else "")
    release = verification.release
    lines = [
        f"verified {shown}: sha256:{verification.digest}",
        f"  signed by {who}, {verification.mode} mode",
    ]
    if release is not None:
        lines.append(f"  release {release.plugin}@{release.version}")
    checks = [*verification.checks, *([verification_note] if verification_note else [])]
    lines += [f"  ok: {check}" for check in checks]
    data = {
        "artifact": shown,
        "digest": f"sha256:{verification.digest}",
        "signer": verification.signer,
        "issuer": verification.issuer,
        "mode": verification.mode,
        "release": None
        if release is None
        else {"plugin": release.plugin, "version": release.version},
        "checks": checks,
    }
    emit(output_format, data, "".join(f"{line}\n" for line in lines))
    return 0
