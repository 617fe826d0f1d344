"""The two baselines, served by gunicorn exactly as Startline is.

`/` is the least work a Flask page can do (the bare ceiling). `/one-select` is the least work a
database-backed page does: ONE SELECT on the benchmark's own Postgres through a SQLAlchemy engine
(a connection pool, as the app has) and a small Jinja template. The issue's goals compare the
pages with the second one.
"""
import os

from flask import Flask, render_template_string
from sqlalchemy import create_engine, text

app = Flask(__name__)
_url = os.environ.get("DATABASE_URL", "")
engine = create_engine(_url.replace("postgresql://", "postgresql+psycopg://", 1), pool_pre_ping=False) if _url else None

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><main><h1>{{ title }}</h1>
<ul>{% for race in races %}<li><a href="/races/{{ race.slug }}">{{ race.title }}</a></li>{% endfor %}</ul>
</main></body></html>"""


@app.get("/")
def hello():
    """The least work a Flask page can do."""
    return "hello"


@app.get("/one-select")
def one_select():
    """One SELECT and a small template: the floor of any page that reads the database."""
    with engine.connect() as conn:
        races = conn.execute(text("SELECT slug, title FROM races ORDER BY id LIMIT 5")).all()
    return render_template_string(PAGE, title="Races", races=races)
