from baomi.vault.tests.conftest import blob_dir, firm  # noqa: F401  (shared fixtures)
