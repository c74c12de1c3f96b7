// The authorization Mini App. It trusts nothing the server says about the request: it verifies
// the signer's Ed25519 signature over the description statement (format version 1, see
// kms_client::statement) and shows only what it decoded from the verified bytes.
'use strict';

const MAGIC = new TextEncoder().encode('kms-signer description statement v1\0');

function $(id) { return document.getElementById(id); }

function status(text, cls) {
  const s = $('status');
  s.textContent = text;
  s.className = cls;
}

// initData as Telegram's client hands it to a Mini App: window.Telegram.WebApp.initData when
// telegram-web-app.js is loaded, else the tgWebAppData parameter of the URL fragment (which is
// where that script reads it from).
function initData() {
  const tg = window.Telegram && window.Telegram.WebApp;
  if (tg && tg.initData) return tg.initData;
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  return fragment.get('tgWebAppData') || '';
}

function b64(s) { return Uint8Array.from(atob(s), (c) => c.charCodeAt(0)); }
function hex(bytes) { return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(''); }

// Decodes a version-1 description statement; throws on any deviation.
function decodeStatement(bytes) {
  if (bytes.length < MAGIC.length) throw new Error('statement too short');
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) throw new Error('not a version-1 statement');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = MAGIC.length;
  const need = (n) => { if (at + n > bytes.length) throw new Error('statement truncated'); };
  const u64 = () => { need(8); const v = view.getBigUint64(at); at += 8; return v; };
  const str = () => {
    need(4); const n = view.getUint32(at); at += 4; need(n);
    const s = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(at, at + n));
    at += n; return s;
  };
  const user = u64();
  const expiresAt = u64();
  const challenge = str();
  const requestDigest = str();
  const factor = str();
  const description = str();
  need(1);
  const count = bytes[at]; at += 1;
  if (count > 16) throw new Error('too many buttons');
  const buttons = [];
  for (let i = 0; i < count; i++) buttons.push(str());
  if (at !== bytes.length) throw new Error('bytes after the statement');
  return { user, expiresAt, challenge, requestDigest, factor, description, buttons };
}

async function post(path, body) {
  const resp = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    cache: 'no-store',
  });
  let json = {};
  try { json = await resp.json(); } catch (_) { /* not JSON */ }
  return { status: resp.status, json };
}

async function main() {
  const data = initData();
  const challenge = new URLSearchParams(window.location.search).get('c') || '';
  if (!data || !/^[0-9a-f]{16}$/.test(challenge)) {
    status('Open this page from the button in your chat with the signer.', 'bad');
    return;
  }
  let userId = '';
  try { userId = String(JSON.parse(new URLSearchParams(data).get('user')).id); } catch (_) { /* checked below */ }

  const got = await post('/api/challenge', { init_data: data, challenge });
  if (got.status !== 200) {
    status('Refused: ' + (got.json.error || 'HTTP ' + got.status), 'bad');
    return;
  }
  let st;
  let fingerprint;
  try {
    const statement = b64(got.json.statement);
    const signature = b64(got.json.signature);
    const keyBytes = b64(got.json.signer_key);
    const key = await crypto.subtle.importKey('raw', keyBytes, { name: 'Ed25519' }, false, ['verify']);
    const valid = await crypto.subtle.verify({ name: 'Ed25519' }, key, signature, statement);
    if (!valid) throw new Error("the signer's signature does not verify");
    st = decodeStatement(statement);
    if (st.challenge !== challenge) throw new Error('the statement is for another request');
    if (String(st.user) !== userId) throw new Error('the statement is for another user');
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', keyBytes));
    fingerprint = hex(digest.subarray(0, 16)).toUpperCase().match(/.{4}/g).join(' ');
  } catch (e) {
    status('Not shown: ' + e.message + '.', 'bad');
    return;
  }

  $('description').textContent = st.description;
  $('fingerprint').textContent = fingerprint;
  $('digest').textContent = st.requestDigest;
  const secondsLeft = Number(st.expiresAt) - Math.floor(Date.now() / 1000);
  $('expires').textContent = secondsLeft > 0 ? 'in ' + secondsLeft + ' s' : 'expired';
  if (['totp', 'any'].includes(st.factor.toLowerCase())) $('code-row').hidden = false;
  status('✓ Signed for this request by signer key ' + fingerprint + ': check that your chat shows the same key.', 'ok');
  $('request').hidden = false;

  const row = $('buttons');
  st.buttons.forEach((label, index) => {
    const b = document.createElement('button');
    b.textContent = label;
    b.id = 'button-' + index;
    const lower = label.toLowerCase();
    b.className = lower.startsWith('reject') ? 'reject' : lower.startsWith('approve') ? 'approve' : '';
    b.addEventListener('click', async () => {
      row.querySelectorAll('button').forEach((x) => { x.disabled = true; });
      const code = $('code').value.trim();
      const body = { init_data: data, challenge, button: index };
      if (code) body.code = code;
      const res = await post('/api/decide', body);
      const out = $('result');
      out.hidden = false;
      if (res.status === 200 && res.json.ok) {
        out.textContent = res.json.text;
        out.className = 'ok';
      } else {
        out.textContent = 'Not done: ' + (res.json.text || res.json.error || 'HTTP ' + res.status);
        out.className = 'bad';
        row.querySelectorAll('button').forEach((x) => { x.disabled = false; });
      }
    });
    row.appendChild(b);
  });
}

main().catch((e) => status('Error: ' + e.message, 'bad'));
