"""Offline bundles for isolated networks: `powerx export` and `powerx plugin import --offline`.

- `pipeline.bundle.export.export_bundle`: an environment of a release repo as one signed tar.
- `pipeline.bundle.importer.import_bundle`: verify every part of a bundle against the site's
  own trust policy, then commit it into the site's repo, store its artifacts and deploy.
- `pipeline.bundle.tarstream`: the streaming tar writer and the safe reader.
- `pipeline.bundle.manifest`: sign and verify `bundle.json`.
"""
