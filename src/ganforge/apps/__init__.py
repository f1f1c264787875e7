"""Uses of a trained run, one module each; the CLI wires them. An app never imports the trainer."""
