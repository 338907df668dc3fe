"""What signs the tokens: the key ring, its store and rotation, sealed secrets, master keys."""
