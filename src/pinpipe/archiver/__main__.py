"""`python -m pinpipe.archiver`: the `pinpipe archive` command without the other components' CLIs."""

import typer

from pinpipe.archiver.cli import archive

typer.run(archive)
