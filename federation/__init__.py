"""ActivityPub federation: keys, HTTP signatures, object proofs, delivery and discovery."""
