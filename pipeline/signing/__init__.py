"""Release signatures: Sigstore bundles over DSSE envelopes holding in-toto statements.

Two ways to sign, one format and one way to verify:

- `pipeline.signing.keys`: ECDSA P-256 key pairs for offline sites (`generate_keypair`,
  `key_id`, `load_private_key`, `load_public_key`).
- `pipeline.signing.sign.sign_with_key`: sign offline with a key (no transparency log).
- `pipeline.signing.keyless.sign_keyless`: sign with Sigstore (Fulcio + Rekor, needs network).
- `pipeline.signing.verify.verify_bundle`: verify either kind, fully offline, against a
  `pipeline.signing.trust.TrustInputs` (the signing policy plus command-line overrides).

The package root imports nothing so that `pipeline.models.signing` can use `keys`.
"""
