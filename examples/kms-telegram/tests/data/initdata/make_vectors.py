#!/usr/bin/env python3
"""Writes vectors.json: Telegram Mini App initData test vectors for kms-telegram.

An implementation independent of the Rust code, written from Telegram's documentation
(https://core.telegram.org/bots/webapps, "Validating data received via the Mini App" and
"Validating data for Third-Party Use"; see README.md next to this file):

  first-party:  secret_key = HMAC_SHA256(key="WebAppData", msg=bot_token)
                hash = hex(HMAC_SHA256(key=secret_key, msg=data_check_string))
                data_check_string = every field but `hash` (so `signature` is included),
                percent-decoded, sorted by key, "key=value" joined by "\n"
  third-party:  signature = base64url_nopad(Ed25519_sign("{bot_id}:WebAppData\n" +
                data_check_string without `hash` and `signature`))

Deterministic (HMAC and Ed25519 are; the stand-in Telegram key comes from a fixed seed), so
`python3 make_vectors.py > vectors.json` reproduces the committed file byte for byte.
Needs the `cryptography` package (Debian: python3-cryptography) for Ed25519.
"""

import base64
import hashlib
import hmac
import json
import sys
from urllib.parse import quote, quote_plus

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

NOW = 1_750_000_000
MAX_AGE = 86_400
MAX_CLOCK_SKEW = 60

# BotFather's documentation example token shape; not a real bot.
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
BOT_ID = 123456789
OTHER_TOKEN = "987654321:AAGother_bot_token_for_the_vectors-0"
OTHER_BOT_ID = 987654321

# Stand-in for Telegram's Ed25519 signing key (Telegram's own is secret): a fixed seed.
KEY = Ed25519PrivateKey.from_private_bytes(
    hashlib.sha256(b"kms-telegram initData test vectors: stand-in Telegram key").digest())
PUBLIC = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
TELEGRAM_PRODUCTION = "e7bf03a2fa4602af4580703d88dda5bb59f32ed8b02a56c187fe7d34caed242d"

USER = {"id": 42, "first_name": "Ann", "last_name": "Lee", "username": "annlee",
        "language_code": "en", "allows_write_to_pm": True}


def user_json(**changes):
    u = dict(USER)
    u.update(changes)
    return json.dumps(u, separators=(",", ":"), ensure_ascii=False)


def encode(fields, plus=False):
    q = quote_plus if plus else (lambda s: quote(s, safe=""))
    return "&".join(q(k) + "=" + q(v) for k, v in fields)


def data_check_string(fields, skip):
    return "\n".join(f"{k}={v}" for k, v in sorted(fields) if k not in skip)


def hmac_hash(fields, token, skip=("hash",)):
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    return hmac.new(secret, data_check_string(fields, skip).encode(), hashlib.sha256).hexdigest()


def first_party(fields, token=TOKEN, plus=False):
    return encode(fields + [("hash", hmac_hash(fields, token))], plus)


def signature(fields, bot_id=BOT_ID, key=KEY):
    msg = f"{bot_id}:WebAppData\n" + data_check_string(fields, ("hash", "signature"))
    return base64.urlsafe_b64encode(key.sign(msg.encode())).rstrip(b"=").decode()


def telegram_shaped(fields, token=TOKEN, bot_id=BOT_ID):
    """What current Telegram clients send: `signature`, then `hash` over everything."""
    signed = fields + [("signature", signature(fields, bot_id))]
    return first_party(signed, token)


def base(auth_date=NOW - 10, **user_changes):
    return [("query_id", "AAHdF6IQAAAAAN0XohDhrOrc"), ("user", user_json(**user_changes)),
            ("auth_date", str(auth_date))]


def fp(name, init_data, expect, now=NOW, token=TOKEN, source="generated", **extra):
    return dict(name=name, form="first_party", init_data=init_data, bot_token=token, now=now,
                expect=expect, source=source, **extra)


def tp(name, init_data, expect, now=NOW, bot_id=BOT_ID, public_key=PUBLIC, source="generated",
       **extra):
    return dict(name=name, form="third_party", init_data=init_data, bot_id=bot_id,
                public_key=public_key, now=now, expect=expect, source=source, **extra)


# ---- published examples (see README.md for where each comes from) ----
PUB_TOKEN = "7342037359:AAHI25ES9xCOMPokpYoz-p8XVrZUdygo2J4"
PUB_BOT_ID = 7342037359
PUB_A = ("user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%20%2B%20-%20%3F%20%5C%2F%22%2C"
         "%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22ru%22%2C"
         "%22is_premium%22%3Atrue%2C%22allows_write_to_pm%22%3Atrue%2C%22photo_url%22%3A%22https%3A%5C%2F%5C%2F"
         "t.me%5C%2Fi%5C%2Fuserpic%5C%2F320%5C%2F4FPEE4tmP3ATHa57u6MqTDih13LTOiMoKoLDRG4PnSA.svg%22%7D"
         "&chat_instance=8134722200314281151&chat_type=private&auth_date=1733509682"
         "&signature=TYJxVcisqbWjtodPepiJ6ghziUL94-KNpG8Pau-X7oNNLNBM72APCpi_RKiUlBvcqo5L-LAxIc3dnTzcZX_PDg"
         "&hash=a433d8f9847bd6addcc563bff7cc82c89e97ea0d90c11fe5729cae6796a36d73")
PUB_B = ("user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%20%2B%20-%20%3F%20%5C%2F%22%2C"
         "%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22ru%22%2C"
         "%22is_premium%22%3Atrue%2C%22allows_write_to_pm%22%3Atrue%2C%22photo_url%22%3A%22https%3A%5C%2F%5C%2F"
         "t.me%5C%2Fi%5C%2Fuserpic%5C%2F320%5C%2F4FPEE4tmP3ATHa57u6MqTDih13LTOiMoKoLDRG4PnSA.svg%22%7D"
         "&chat_instance=8134722200314281151&chat_type=private&auth_date=1733584787"
         "&hash=2174df5b000556d044f3f020384e879c8efcab55ddea2ced4eb752e93e7080d6"
         "&signature=zL-ucjNyREiHDE8aihFwpfR9aggP2xiAo3NSpfe-p7IbCisNlDKlo7Kb6G4D0Ao2mBrSgEk4maLSdv6MLIlADQ")
PUB_C_TOKEN = "5768337691:AAH5YkoiEuPk8-FZa32hStHTqXiLPtAEhx8"
PUB_C = ("query_id=AAHdF6IQAAAAAN0XohDhrOrc&user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%22%2C"
         "%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22ru%22%2C"
         "%22is_premium%22%3Atrue%7D&auth_date=1662771648"
         "&hash=c501b71e775f74ce10e377dea85a7ea24ecd640b223ea86dfe453e0eaed2e2b2")
SRC_GOLANG_README = ("published: Telegram-Mini-Apps/init-data-golang README.md, Validation example "
                     "(Telegram-issued; its signature verifies under Telegram's production key)")
SRC_GOLANG_THIRD = ("published: Telegram-Mini-Apps/init-data-golang validate_third_party_test.go "
                    "(Telegram-issued; third-party form only: its hash is not under the published token)")
SRC_GOLANG_OLD = "published: Telegram-Mini-Apps/init-data-golang validate_test.go (2022, before `signature`)"


def vectors():
    ok = "ok"
    passing = [
        fp("basic", first_party(base()), ok, user_id=42),
        fp("telegram_shaped_signature_in_hmac", telegram_shaped(base()), ok, user_id=42),
        tp("telegram_shaped_third_party", telegram_shaped(base()), ok, user_id=42),
        tp("signature_only", encode(base() + [("signature", signature(base()))]), ok, user_id=42),
        fp("percent_encoded_specials",
           first_party(base(first_name="Zoë + & = ? / \\ 😀") + [("start_param", "a-b_c")]), ok,
           user_id=42),
        fp("plus_as_space", first_party(base(first_name="Ann Marie Lee"), plus=True), ok, user_id=42),
        fp("unknown_fields_are_signed_too",
           first_party(base() + [("chat_instance", "-8134722200314281151"), ("chat_type", "sender"),
                                 ("future_field", "x y")]), ok, user_id=42),
        fp("age_exactly_max_age", first_party(base(auth_date=NOW - MAX_AGE)), ok, user_id=42),
        fp("ahead_by_max_clock_skew", first_party(base(auth_date=NOW + MAX_CLOCK_SKEW)), ok,
           user_id=42),
        fp("no_user", first_party([("auth_date", str(NOW)), ("query_id", "Q")]), ok, user_id=None),
        fp("published_telegram_shaped", PUB_A, ok, now=1733509682 + 60, token=PUB_TOKEN,
           source=SRC_GOLANG_README, user_id=279058397),
        tp("published_telegram_shaped_third_party", PUB_A, ok, now=1733509682 + 60,
           bot_id=PUB_BOT_ID, public_key=TELEGRAM_PRODUCTION, source=SRC_GOLANG_README,
           user_id=279058397),
        tp("published_third_party", PUB_B, ok, now=1733584787 + 60, bot_id=PUB_BOT_ID,
           public_key=TELEGRAM_PRODUCTION, source=SRC_GOLANG_THIRD, user_id=279058397),
        fp("published_before_signature", PUB_C, ok, now=1662771648 + 60, token=PUB_C_TOKEN,
           source=SRC_GOLANG_OLD, user_id=279058397),
    ]

    good = telegram_shaped(base())
    fields_with_sig = base() + [("signature", signature(base()))]
    hash_at = good.index("&hash=")
    sig_value = dict(fields_with_sig)["signature"]
    # Valid MAC, but one field's value swallows the next ("a=1&b=2" vs "a=1%0Ab%3D2").
    resplit_fields = [("auth_date", str(NOW)), ("chat_type", "private"), ("query_id", "Q"),
                      ("user", user_json())]
    resplit = first_party(resplit_fields).replace("chat_type=private&query_id=Q",
                                                  "chat_type=private%0Aquery_id%3DQ")
    flipped = sig_value[:10] + ("A" if sig_value[10] != "A" else "B") + sig_value[11:]
    failing = [
        fp("tampered_user", good.replace("%22id%22%3A42", "%22id%22%3A43"), "BadHash"),
        fp("tampered_auth_date", good.replace(f"auth_date={NOW - 10}", f"auth_date={NOW - 9}"),
           "BadHash"),
        fp("wrong_bot_token", good, "BadHash", token=OTHER_TOKEN),
        fp("hash_of_another_bot", telegram_shaped(base(), token=OTHER_TOKEN), "BadHash"),
        fp("hmac_without_signature", encode(fields_with_sig + [
            ("hash", hmac_hash(fields_with_sig, TOKEN, skip=("hash", "signature")))]), "BadHash"),
        fp("signature_dropped", good.replace("&signature=" + sig_value, ""), "BadHash"),
        fp("hash_not_hex", first_party(base())[:-64] + "z" * 64, "BadHash"),
        fp("stale", first_party(base(auth_date=NOW - MAX_AGE - 1)), "Stale", age=MAX_AGE + 1),
        fp("from_future", first_party(base(auth_date=NOW + MAX_CLOCK_SKEW + 1)), "FromFuture",
           ahead=MAX_CLOCK_SKEW + 1),
        fp("far_future", first_party(base(auth_date=NOW + 3600)), "FromFuture", ahead=3600),
        fp("duplicate_key", first_party(base() + [("auth_date", str(NOW))]), "DuplicateKey",
           field="auth_date"),
        fp("duplicate_hash", first_party(base()) + "&hash=" + "0" * 64, "DuplicateKey",
           field="hash"),
        fp("missing_hash", encode(fields_with_sig), "MissingHash"),
        fp("truncated_hash", good[:len(good) - 10], "BadHash"),
        fp("truncated_before_hash", good[:hash_at], "MissingHash"),
        fp("truncated_in_escape", good[:good.index("%") + 2], "Malformed", field="user"),
        fp("malformed_percent", first_party(base()).replace("%22Ann%22", "%22Ann%G2"),
           "Malformed", field="user"),
        fp("non_utf8", first_party(base()).replace("%22Ann%22", "%22Ann%FF%22"), "Malformed",
           field="user"),
        fp("newline_resplit", resplit, "Malformed", field="chat_type"),
        fp("missing_auth_date", first_party(base()[:2]), "Malformed", field="auth_date"),
        fp("auth_date_not_a_number", first_party(base()[:2] + [("auth_date", "1e9")]),
           "Malformed", field="auth_date"),
        fp("user_not_json", first_party(base()[:1] + [("user", "{id:42}")] + base()[2:]),
           "Malformed", field="user"),
        fp("pair_without_equals", "query_id&" + first_party(base()), "Malformed",
           field="query string"),
        fp("empty", "", "Malformed", field="query string"),
        fp("too_long", first_party(base() + [("pad", "x" * 8192)]), "TooLong"),
        tp("bad_signature", good.replace(sig_value, flipped), "BadHash"),
        tp("signature_for_another_bot_id", telegram_shaped(base(), bot_id=OTHER_BOT_ID),
           "BadHash"),
        tp("signature_under_another_key", good, "BadHash", public_key=TELEGRAM_PRODUCTION),
        tp("signature_padded", good.replace(sig_value, sig_value + "=="), "BadHash"),
        tp("signature_truncated", good.replace(sig_value, sig_value[:-4]), "BadHash"),
        tp("missing_signature", first_party(base()), "MissingSignature"),
        tp("third_party_tampered", good.replace("%22id%22%3A42", "%22id%22%3A43"), "BadHash"),
        tp("third_party_stale", telegram_shaped(base(auth_date=NOW - MAX_AGE - 5)), "Stale",
           age=MAX_AGE + 5),
        fp("published_stale", PUB_A, "Stale", now=1733509682 + MAX_AGE + 1, token=PUB_TOKEN,
           source=SRC_GOLANG_README, age=MAX_AGE + 1),
        fp("published_other_token", PUB_A, "BadHash", now=1733509682 + 60, token=PUB_C_TOKEN,
           source=SRC_GOLANG_README),
        fp("published_tampered", PUB_A.replace("chat_type=private", "chat_type=sender"), "BadHash",
           now=1733509682 + 60, token=PUB_TOKEN, source=SRC_GOLANG_README),
        tp("published_tampered_third_party", PUB_A.replace("chat_type=private", "chat_type=sender"),
           "BadHash", now=1733509682 + 60, bot_id=PUB_BOT_ID, public_key=TELEGRAM_PRODUCTION,
           source=SRC_GOLANG_README),
        tp("published_test_environment_key", PUB_B, "BadHash", now=1733584787 + 60,
           bot_id=PUB_BOT_ID,
           public_key="40055058a4ee38156a06562e52eece92a771bcd8346a8c4615cb7376eddf72ec",
           source=SRC_GOLANG_THIRD),
    ]
    return passing, failing


def main():
    passing, failing = vectors()
    doc = {
        "comment": "Generated by make_vectors.py from Telegram's published algorithm; see README.md.",
        "max_age_secs": MAX_AGE,
        "max_clock_skew_secs": MAX_CLOCK_SKEW,
        "pass": passing,
        "fail": failing,
    }
    json.dump(doc, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
