#!/usr/bin/env python3
"""Writes the committed seed corpora of fuzz/seeds/<target>/ from the project's test data.

Sources (each seed file is named after where it came from):
- ../shared/solana-vectors/*.json: real transactions and messages from public wallet test suites
  (Ledger, wallet-core, web3.js, Keystone, the Solana SDK), decoded from hex/base64/base58;
  seeds of solana_parse, solana_describe and constraints_modules.
- examples/kms-telegram/tests/data/initdata/vectors.json: initData strings (pass and fail sets);
  seeds of telegram_init_data.
- kms-constraints/modules/dist/*.wasm and dist/previous/*.wasm: the built-in modules, every version
  users may have authorized; seeds of constraints_host.
- kms-intent/tests/data/webauthn-*: the W3C Level 3 test vectors and Yubico's recorded YubiKey
  ceremonies (authenticator data, attestation objects, clientDataJSON); seeds of
  intent_authenticator_data and intent_client_data.
- kms-tpm/tests/data/ek-vectors and ecc-ca: swtpm EK certificates, EK public areas and CA
  certificates; seeds of tpm_ek_certificate.
- Hand-written here: valid bus frames (client_bus_frames), Bot API updates (telegram_update),
  replication-link frames and KV keys (kms_replica_link) and derivation paths
  (core_derivation_path).

Seeds that need the crates' own encoders (sealed records, backups, user states, approval tokens,
sealed blobs, join messages, audit logs) are written by make_binary_seeds.rs in this folder:
cd fuzz && cargo +nightly run --release --example make_binary_seeds

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

    dist = os.path.join(ROOT, "kms-constraints", "modules", "dist")
    for path in sorted(glob.glob(os.path.join(dist, "*.wasm")) + glob.glob(os.path.join(dist, "previous", "*.wasm"))):
        prefix = "previous-" if os.path.basename(os.path.dirname(path)) == "previous" else "module-"
        put("constraints_host", prefix + os.path.splitext(os.path.basename(path))[0], open(path, "rb").read())

    intent_data = os.path.join(ROOT, "kms-intent", "tests", "data")
    w3c = json.load(open(os.path.join(intent_data, "webauthn-l3-vectors.json")))
    for v in w3c["vectors"]:
        reg, auth = v["registration"], v["authentication"]
        put("intent_authenticator_data", f"w3c-{v['name']}-attestation-object", bytes.fromhex(reg["attestation_object"]))
        put("intent_authenticator_data", f"w3c-{v['name']}-authenticator-data", bytes.fromhex(auth["authenticator_data"]))
        put("intent_authenticator_data", f"w3c-{v['name']}-cose-key", bytes.fromhex(reg["credential_public_key"]))
        put("intent_client_data", f"w3c-{v['name']}-create", bytes.fromhex(reg["client_data_json"]))
        put("intent_client_data", f"w3c-{v['name']}-get", bytes.fromhex(auth["client_data_json"]))
        # The target splits its input in half: client data, then an attestation object.
        cd, att = bytes.fromhex(reg["client_data_json"]), bytes.fromhex(reg["attestation_object"])
        if len(cd) <= len(att):
            put("intent_client_data", f"w3c-{v['name']}-registration", cd + b" " * (len(att) - len(cd)) + att)
    blocks = open(os.path.join(intent_data, "webauthn-yubico.txt")).read().split("\n\n")
    for block in blocks:
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line and not line.startswith("#"))
        if "name" not in fields:
            continue
        for key, value in fields.items():
            if key.endswith("client_data"):
                put("intent_client_data", f"yubico-{fields['name']}-{key}", value.encode())
            elif key in ("attestation_object", "authenticator_data"):
                put("intent_authenticator_data", f"yubico-{fields['name']}-{key}", base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))

    tpm_data = os.path.join(ROOT, "kms-tpm", "tests", "data")
    for sub in ("ek-vectors", "ecc-ca"):
        for path in sorted(glob.glob(os.path.join(tpm_data, sub, "*"))):
            if path.endswith("key.pem"):
                continue  # a CA's private key is not an input any decoder reads
            put("tpm_ek_certificate", f"{sub}-{os.path.basename(path)}", open(path, "rb").read())

    paths = ["m", "m/44'/501'", "m/44'/501'/0'", "m/44'/501'/0'/0'", "m/44'/501'/2147483647'/0'",
             "m/44h/501h/7h/0h", "m/44H/501H/0H", "m/501'/0'/0/0", "m/44'/60'/0'/0/0"]
    for i, text in enumerate(paths):
        put("core_derivation_path", f"path-{i:02}", text.encode())


if __name__ == "__main__":
    main()
