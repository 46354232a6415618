"""`python -m studio`: the same as the `latent-studio` command."""
from studio.cli import main

raise SystemExit(main())
