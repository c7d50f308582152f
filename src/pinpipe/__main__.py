from pinpipe.cli import app

app(prog_name="pinpipe")
