"""One module per CLI sub-command.

Each exposes ``register(subparsers)``, which adds its parser and sets
``func=run``. Modules import only argparse-level things at the top; the heavy
work is imported inside ``run`` so ``lamina --help`` stays fast.
"""
