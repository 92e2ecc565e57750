"""ferry's SQL test runner: runs prepared test cases on an engine and answers in JSON.

ferry starts it as `python -c <this file>`, writes one JSON request on stdin and reads one
JSON answer from stdout. It needs only the standard library, plus the `chdb` module (the
PyPI package chdb-core) for the chdb engine, or a `clickhouse` binary for clickhouse-local.

Request: {"protocol": 1, "engine": "chdb" | "clickhouse-local", "clickhouse": path,
          "cases": [{"inputs": [{"table", "path", "format"}], "statements": [sql],
                     "result": table name of the last statement's rows,
                     "read": [table names to return], "expected": [{"table", "path", "format"}]}]}
Answer:  {"missing": why} when the engine is not installed, else
         {"engine": {"name", "version", "clickhouse"}, "startSeconds": s,
          "cases": [{"tables": {name: table}, "expected": {name: table}}
                    | {"error": {"stage", "index", "table", "message"}}]}
A table is {"columns": [name], "types": [type], "rows": [[text or null]]}.

Every input column is read as Nullable(String): an empty unquoted cell is NULL.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

PROTOCOL = 1
TEXT_FORMAT = "TSVWithNamesAndTypes"


class EngineError(Exception):
    """The engine refused a statement; the message is the engine's own."""


class Missing(Exception):
    """The engine is not installed."""


def quote(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ident(name):
    return "`" + name.replace("`", "``") + "`"


def file_source(path, fmt):
    """`file(…)` reading every column of the file as Nullable(String), by its header."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            header = next(csv.reader(f, delimiter="\t" if fmt.startswith("TSV") else ","), None)
    except (OSError, UnicodeDecodeError) as e:
        raise EngineError("cannot read the file: %s" % e) from e
    if not header:
        raise EngineError("the file is empty: write a header row naming the columns")
    structure = ", ".join(ident(c) + " Nullable(String)" for c in header)
    return "file(" + quote(path) + ", " + quote(fmt) + ", " + quote(structure) + ")"


UNESCAPE = {"b": "\b", "f": "\f", "r": "\r", "n": "\n", "t": "\t", "0": "\0"}


def unescape(field):
    if field == "\\N":
        return None
    if "\\" not in field:
        return field
    out = []
    i = 0
    while i < len(field):
        c = field[i]
        if c == "\\" and i + 1 < len(field):
            nxt = field[i + 1]
            out.append(UNESCAPE.get(nxt, nxt))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def decode(text):
    """A TSVWithNamesAndTypes answer as a table, or None when there is none (DDL)."""
    if not text:
        return None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) < 2:
        return None
    columns = [unescape(f) for f in lines[0].split("\t")]
    types = [unescape(f) for f in lines[1].split("\t")]
    rows = [[unescape(f) for f in line.split("\t")] for line in lines[2:]]
    return {"columns": columns, "types": types, "rows": rows}


class Chdb:
    name = "chdb"
    table_engine = "Memory"

    def __init__(self):
        started = time.monotonic()
        try:
            import chdb  # noqa: PLC0415 (imported here: its absence is an answer)
        except ImportError as e:
            raise Missing("the Python module `chdb` cannot be imported (%s)" % e) from e
        self.chdb = chdb
        self.version = getattr(chdb, "__version__", "unknown")
        conn = chdb.connect(":memory:")
        self.clickhouse = conn.query("SELECT version()", "TSV").bytes().decode().strip()
        conn.close()
        self.start = time.monotonic() - started
        self.cases = 0

    def open(self):
        return ChdbCase(self)


class ChdbCase:
    """One case: its own connection (settings) and its own database (tables)."""

    def __init__(self, engine):
        engine.cases += 1
        self.conn = engine.chdb.connect(":memory:")
        self.database = "ferry_case_%d" % engine.cases
        self.run("CREATE DATABASE " + self.database)
        self.run("USE " + self.database)

    def run(self, sql, fmt="TSV"):
        try:
            result = self.conn.query(sql, fmt)
        except Exception as e:  # chdb raises its own error type for engine errors
            raise EngineError(str(e)) from e
        return result.bytes().decode("utf-8", "replace")

    def close(self):
        try:
            self.run("DROP DATABASE IF EXISTS " + self.database)
        except EngineError:
            pass
        self.conn.close()


class ClickhouseLocal:
    name = "clickhouse-local"
    table_engine = "Log"

    def __init__(self, binary):
        started = time.monotonic()
        self.binary = binary
        try:
            out = subprocess.run(
                [binary, "local", "--query", "SELECT version()"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=False,
            )
        except OSError as e:
            raise Missing("`%s local` cannot be started (%s)" % (binary, e)) from e
        if out.returncode != 0:
            raise Missing(
                "`%s local` failed: %s" % (binary, out.stderr.decode("utf-8", "replace").strip())
            )
        self.clickhouse = out.stdout.decode().strip()
        self.version = self.clickhouse
        self.start = time.monotonic() - started

    def open(self):
        return ClickhouseLocalCase(self.binary)


class ClickhouseLocalCase:
    """One case: a fresh data directory; each statement is one `clickhouse local` call."""

    def __init__(self, binary):
        self.binary = binary
        self.path = tempfile.mkdtemp(prefix="ferry-case-")

    def run(self, sql, fmt="TSV"):
        out = subprocess.run(
            [self.binary, "local", "--path", self.path, "--output-format", fmt, "--query", sql],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        if out.returncode != 0:
            raise EngineError(out.stderr.decode("utf-8", "replace").strip())
        return out.stdout.decode("utf-8", "replace")

    def close(self):
        shutil.rmtree(self.path, ignore_errors=True)


def run_case(engine, case):
    session = engine.open()
    try:
        for i, item in enumerate(case["inputs"]):
            try:
                sql = "CREATE TABLE %s ENGINE = %s AS SELECT * FROM %s" % (
                    ident(item["table"]),
                    engine.table_engine,
                    file_source(item["path"], item["format"]),
                )
                session.run(sql)
            except EngineError as e:
                return {"error": {"stage": "input", "index": i, "table": item["table"], "message": str(e)}}
        statements = case["statements"]
        result = None
        for i, sql in enumerate(statements):
            try:
                out = session.run(sql, TEXT_FORMAT)
            except EngineError as e:
                return {"error": {"stage": "statement", "index": i, "message": str(e)}}
            if i == len(statements) - 1:
                result = decode(out)
        tables = {}
        for name in case["read"]:
            if name == case["result"] and result is not None:
                tables[name] = result
                continue
            try:
                tables[name] = decode(session.run("SELECT * FROM " + ident(name), TEXT_FORMAT))
            except EngineError as e:
                return {"error": {"stage": "read", "table": name, "message": str(e)}}
        expected = {}
        for i, item in enumerate(case["expected"]):
            try:
                sql = "SELECT * FROM %s" % file_source(item["path"], item["format"])
                expected[item["table"]] = decode(session.run(sql, TEXT_FORMAT))
            except EngineError as e:
                return {"error": {"stage": "expected", "index": i, "table": item["table"], "message": str(e)}}
        return {"tables": tables, "expected": expected}
    finally:
        session.close()


def main():
    request = json.load(sys.stdin)
    if request.get("protocol") != PROTOCOL:
        sys.stderr.write("ferry's SQL runner speaks protocol %d\n" % PROTOCOL)
        sys.exit(2)
    os.chdir(request.get("workdir") or tempfile.gettempdir())
    try:
        if request["engine"] == "clickhouse-local":
            engine = ClickhouseLocal(request.get("clickhouse") or "clickhouse")
        else:
            engine = Chdb()
    except Missing as e:
        json.dump({"missing": str(e)}, sys.stdout)
        return
    # From the moment ferry started this interpreter to the engine's first answer.
    start = time.time() - request.get("spawnedAt", time.time())
    cases = [run_case(engine, case) for case in request["cases"]]
    json.dump(
        {
            "engine": {"name": engine.name, "version": engine.version, "clickhouse": engine.clickhouse},
            "startSeconds": max(start, engine.start),
            "cases": cases,
        },
        sys.stdout,
    )


main()
