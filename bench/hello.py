"""The ceiling: a bare Flask app with one page, served by gunicorn exactly as Startline is."""
from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    """The least work a Flask page can do."""
    return "hello"
