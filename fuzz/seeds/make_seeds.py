#!/usr/bin/env python3
"""Writes the committed seed corpora of fuzz/seeds/<target>/ from the project's test data.

Sources (each seed file is named after where it came from):
- ../shared/solana-vectors/*.json: real transactions and messages from public wallet test suites
  (Ledger, wallet-core, web3.js, Keystone, the Solana SDK), decoded from hex/base64/base58;
  seeds of solana_parse, solana_describe and constraints_modules.
- examples/kms-telegram/tests/data/initdata/vectors.json: initData strings (pass and fail sets);
  seeds of telegram_init_data.
- Hand-written here: valid bus frames (client_bus_frames), Bot API updates (telegram_update) and
  replication-link frames and KV keys (kms_replica_link).

Run from the repository root: python3 fuzz/seeds/make_seeds.py [path to shared/solana-vectors]
"""
import base64
import glob
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "fuzz", "seeds")
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58decode(s):
    n = 0
    for ch in s:
        n = n * 58 + B58.index(ch)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    pad = len(s) - len(s.lstrip("1"))
    return b"\0" * pad + raw


def decode(enc, data):
    if enc == "hex":
        return bytes.fromhex(data)
    if enc == "base64":
        return base64.b64decode(data)
    if enc == "base58":
        return b58decode(data)
    raise ValueError(enc)


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    vectors = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "solana-vectors")
    for path in sorted(glob.glob(os.path.join(vectors, "*.json"))):
        v = json.load(open(path))
        if not isinstance(v.get("data"), str) or v.get("kind") not in ("message", "transaction"):
            continue
        raw = decode(v["encoding"], v["data"])
        name = os.path.splitext(os.path.basename(path))[0]
        for t in ("solana_parse", "solana_describe", "constraints_modules"):
            put(t, name, raw)

    init = json.load(open(os.path.join(ROOT, "examples", "kms-telegram", "tests", "data", "initdata", "vectors.json")))
    for kind in ("pass", "fail"):
        for i, v in enumerate(init[kind]):
            text = v.get("init_data") if isinstance(v, dict) else None
            if isinstance(text, str):
                put("telegram_init_data", f"vectors-{kind}-{i:02}", text.encode())

    requests = [
        {"op": "ping"},
        {"op": "create_user", "user": 1001},
        {"op": "list_wallets", "user": 1001},
        {"op": "decide", "user": 1001, "token": "1" + "A" * 55},
        {"op": "challenge_outcome", "user": 1001, "challenge": "00112233aabbccdd"},
        {"op": "audit_tail", "count": 10},
    ]
    for i, req in enumerate(requests):
        body = json.dumps({"v": 1, "id": i + 1, "req": req}, separators=(",", ":")).encode()
        put("client_bus_frames", f"frame-{req['op']}", struct.pack(">I", len(body)) + body)

    updates = [
        {"update_id": 1, "message": {"message_id": 1, "from": {"id": 7, "is_bot": False, "first_name": "A"},
                                     "chat": {"id": 7, "type": "private"}, "date": 1750000000, "text": "/start"}},
        {"update_id": 2, "callback_query": {"id": "q1", "from": {"id": 7, "is_bot": False, "first_name": "A"},
                                            "chat_instance": "-1", "data": "1" + "B" * 55,
                                            "message": {"message_id": 3, "chat": {"id": 7, "type": "private"},
                                                        "date": 1750000000, "text": "Approve this request?",
                                                        "reply_markup": {"inline_keyboard": [[{"text": "Approve", "callback_data": "x"}]]}}}},
        {"update_id": 3, "edited_message": {"message_id": 4, "chat": {"id": -100, "type": "supergroup", "title": "g"},
                                            "date": 1, "edit_date": 2, "text": "123456"}},
    ]
    for u in updates:
        put("telegram_update", f"update-{u['update_id']}", json.dumps(u).encode())

    sealed = base64.b64encode(bytes(range(48))).decode()
    entry = {"key": "auth.1001", "value": sealed, "revision": 7}
    link = [
        ("hello", {"op": "hello", "v": 1, "since": 0}),
        ("put", {"op": "put", "v": 1, "id": 1, "key": "profile.1001", "value": sealed, "expect": 0}),
        ("get", {"op": "get", "v": 1, "id": 2, "key": "record.0801020304"}),
        ("stored", {"op": "stored", "v": 1, "id": 1, "revision": 8}),
        ("conflict", {"op": "conflict", "v": 1, "id": 1, "current": entry}),
        ("changed", {"op": "changed", "v": 1, "entry": entry}),
        ("caught-up", {"op": "caught_up", "v": 1, "revision": 8}),
        ("join-reply", {"op": "join_reply", "v": 1, "id": 3, "sponsor": "a", "session": "00ff",
                        "body": sealed, "error": None}),
        ("key-pending", "pending.dead00000000beef"),
    ]
    for name, m in link:
        body = m.encode() if isinstance(m, str) else json.dumps(m, separators=(",", ":")).encode()
        put("kms_replica_link", name, body)


if __name__ == "__main__":
    main()
