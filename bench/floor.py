"""The floor: what this PostgreSQL and CPU allow for a reveal's work, without Django.

One transaction is what a reveal has to do at the least: an indexed SELECT of a credential-
shaped row (about 1 KB, looked up by uuid), an AES-256-GCM decrypt of its ~200-byte secret
with a cached key, and one INSERT of an audit-shaped row (about 300 B), committed with
synchronous_commit on. It runs from 1 and from 4 connections (processes, so the GIL is not
the limit), after a warm-up, for --seconds; the report gives transactions per second and
p50/p99 latency. bench/bench.py imports it to put every figure beside this floor, measured
in the same run (shared machines drift: compare ratios, not absolute numbers).

The tables live in a schema of their own (bench_floor_<pid>), dropped at the end, so any
database will do, even the seeded one:

    .venv/bin/python bench/floor.py --dsn postgres://postgres@127.0.0.1:5432/keyhold_bench
"""

import argparse
import json
import math
import multiprocessing
import os
import secrets
import sys
import time
import uuid
from datetime import UTC, datetime

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg import sql

DEFAULT_ROWS = 50_000
CLIENTS = 200  # one cached data key per client, as the application caches unwrapped keys
SECRET_BYTES = 200
NONCE_BYTES = 12
FILLER_BYTES = 520  # username, host, notes ciphertext and the rest: ~1 KB a row in all


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (the value below which `share` of the values lie)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _schema_create(dsn: str, schema: str, rows: int, keys: list[bytes]) -> list[uuid.UUID]:
    """The two tables with `rows` credentials sealed under the clients' keys; their ids."""
    ids = [uuid.uuid4() for _ in range(rows)]
    client_ids = [uuid.uuid4() for _ in keys]
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
        connection.execute(
            f"""CREATE TABLE {schema}.credential (
                id uuid PRIMARY KEY,
                client_id uuid NOT NULL,
                key_index integer NOT NULL,
                name varchar(200) NOT NULL,
                username varchar(254) NOT NULL,
                host varchar(500) NOT NULL,
                credential_type varchar(32) NOT NULL,
                privilege_tier varchar(16) NOT NULL,
                status varchar(16) NOT NULL,
                secret bytea NOT NULL,
                notes bytea NOT NULL,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL
            )"""
        )
        # The audit row: the columns of audit_auditevent that a reveal fills (~300 B).
        connection.execute(
            f"""CREATE TABLE {schema}.audit (
                sequence bigserial PRIMARY KEY,
                occurred_at timestamptz NOT NULL DEFAULT now(),
                actor_user_id bigint NOT NULL,
                actor_label varchar(254) NOT NULL,
                action varchar(64) NOT NULL,
                outcome varchar(16) NOT NULL,
                client_id uuid NOT NULL,
                target_type varchar(64) NOT NULL,
                target_id varchar(64) NOT NULL,
                target_label varchar(200) NOT NULL,
                ticket varchar(64) NOT NULL,
                ip_address inet,
                request_id varchar(64) NOT NULL,
                details jsonb NOT NULL,
                entry_hash char(64) NOT NULL
            )"""
        )
        connection.execute(f"CREATE INDEX ON {schema}.audit (occurred_at)")
        now = datetime.now(UTC)
        with connection.cursor() as cursor:
            copy_sql = (
                f"COPY {schema}.credential (id, client_id, key_index, name, username, host, "
                "credential_type, privilege_tier, status, secret, notes, created_at, updated_at) "
                "FROM STDIN"
            )
            with cursor.copy(copy_sql) as copy:
                for number, row_id in enumerate(ids):
                    index = number % len(keys)
                    nonce = secrets.token_bytes(NONCE_BYTES)
                    sealed = nonce + AESGCM(keys[index]).encrypt(
                        nonce, secrets.token_bytes(SECRET_BYTES), row_id.bytes
                    )
                    copy.write_row(
                        (
                            row_id,
                            client_ids[index],
                            index,
                            f"Server {number:06d} local admin",
                            f"admin{number}",
                            f"https://srv{number:06d}.floor.example/",
                            "local_admin",
                            "standard",
                            "active",
                            sealed,
                            secrets.token_bytes(FILLER_BYTES),
                            now,
                            now,
                        )
                    )
        connection.execute(f"ANALYZE {schema}.credential")
    return ids


def _worker(
    dsn: str,
    schema: str,
    ids: list[uuid.UUID],
    keys: list[bytes],
    start_at: float,
    warmup: float,
    seconds: float,
    seed: int,
) -> tuple[list[float], float]:
    """One connection's loop: latencies (s) of the transactions inside the measured window."""
    import random

    chance = random.Random(seed)  # noqa: S311  (which row to read, not a secret)
    ciphers = [AESGCM(key) for key in keys]  # the cached, unwrapped data keys
    select = sql.SQL(
        "SELECT client_id, key_index, name, status, privilege_tier, secret "
        "FROM {}.credential WHERE id = %s"
    ).format(sql.Identifier(schema))
    insert = sql.SQL(
        "INSERT INTO {}.audit (actor_user_id, actor_label, action, outcome, client_id, "
        "target_type, target_id, target_label, ticket, ip_address, request_id, details, "
        "entry_hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    ).format(sql.Identifier(schema))
    latencies: list[float] = []
    with psycopg.connect(dsn) as connection:
        connection.execute("SET synchronous_commit = on")
        connection.commit()
        cursor = connection.cursor()
        while time.time() < start_at:
            time.sleep(0.001)
        measure_from = start_at + warmup
        stop_at = measure_from + seconds
        window_start = window_end = 0.0
        while True:
            started = time.perf_counter()
            wall = time.time()
            if wall >= stop_at:
                break
            row_id = ids[chance.randrange(len(ids))]
            cursor.execute(select, (row_id,))
            client_id, key_index, name, _status, tier, sealed = cursor.fetchone()
            plaintext = ciphers[key_index].decrypt(
                sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], row_id.bytes
            )
            if len(plaintext) != SECRET_BYTES:
                raise RuntimeError("decrypted the wrong length")
            cursor.execute(
                insert,
                (
                    7,
                    "floor@bench.example",
                    "credential.revealed",
                    "success",
                    client_id,
                    "vault.credential",
                    str(row_id),
                    name,
                    "T-123456",
                    "10.0.0.7",
                    uuid.uuid4().hex,
                    json.dumps({"via": "api", "field": "secret", "tier": tier}),
                    secrets.token_hex(32),
                ),
            )
            connection.commit()
            ended = time.perf_counter()
            if wall >= measure_from:
                if not latencies:
                    window_start = wall
                latencies.append(ended - started)
                window_end = wall + (ended - started)
    return latencies, max(window_end - window_start, 1e-9)


def _run(
    dsn: str,
    schema: str,
    ids: list[uuid.UUID],
    keys: list[bytes],
    connections: int,
    warmup: float,
    seconds: float,
) -> dict:
    context = multiprocessing.get_context("fork")
    start_at = time.time() + 0.3
    arguments = [
        (dsn, schema, ids, keys, start_at, warmup, seconds, seed) for seed in range(connections)
    ]
    with context.Pool(connections) as pool:
        results = pool.starmap(_worker, arguments)
    latencies = [value for worker_latencies, _ in results for value in worker_latencies]
    window = max(elapsed for _, elapsed in results)
    return {
        "connections": connections,
        "transactions": len(latencies),
        "seconds": round(window, 3),
        "tx_per_second": round(len(latencies) / window, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 3),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
    }


def measure(
    dsn: str,
    *,
    seconds: float = 10.0,
    warmup: float = 2.0,
    rows: int = DEFAULT_ROWS,
    connections: tuple[int, ...] = (1, 4),
) -> dict:
    """The floor from each number of connections, keyed by that number (as a string)."""
    schema = f"bench_floor_{os.getpid()}"
    keys = [AESGCM.generate_key(bit_length=256) for _ in range(CLIENTS)]
    try:
        ids = _schema_create(dsn, schema, rows, keys)
        results = {
            str(count): _run(dsn, schema, ids, keys, count, warmup, seconds)
            for count in connections
        }
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    return {"rows": rows, "warmup_seconds": warmup, **results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 4])
    options = parser.parse_args()
    if not options.dsn.startswith(("postgres://", "postgresql://")):
        sys.exit("Give a PostgreSQL URL with --dsn (or DATABASE_URL).")
    result = measure(
        options.dsn,
        seconds=options.seconds,
        warmup=options.warmup,
        rows=options.rows,
        connections=tuple(options.connections),
    )
    print(json.dumps(result, indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
