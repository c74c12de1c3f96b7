//! The authorization Mini App in a real browser (Debian's headless Chromium over WebDriver),
//! served by the real pool process: the page verifies the signer's signature over the
//! description, shows it, and the user's click decides. Screenshots are kept in
//! `target/test-artifacts/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/telegram.rs"]
mod rig;

use std::time::{Duration, Instant};

use common::*;

const DEST: [u8; 32] = [9; 32];
use kms_client::{Client, Request, Response};
use rig::{Browser, Rig, artifact, buttons};

/// Percent-encodes `s` for a URL fragment parameter (everything but unreserved characters).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The page URL the chat button opens, with initData where Telegram's client puts it.
fn page_url(web_app_url: &str, init_data: &str) -> String {
    format!(
        "{web_app_url}#tgWebAppData={}&tgWebAppVersion=8.0",
        encode(init_data)
    )
}

fn web_app_url(rig: &Rig, user: u64, challenge: &str) -> String {
    let m = rig.challenge_message(user, challenge);
    buttons(&m)
        .into_iter()
        .find(|b| b.0 == "Review in the app")
        .map(|b| b.2)
        .unwrap()
}

fn wait_outcome(c: &mut Client, user: u64, id: &str) -> Response {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = c
            .call(&Request::ChallengeOutcome {
                user,
                challenge: id.to_string(),
            })
            .unwrap();
        if !matches!(r, Response::Waiting { .. }) {
            return r;
        }
        assert!(Instant::now() < deadline, "challenge {id} never decided");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn mini_app_in_chromium_approves_rejects_and_refuses_forged_init_data() {
    const USER: u64 = 601;
    let rig = Rig::start(&[USER, 602]);
    let mut c = rig.kms.client();
    let addr = create_user(&mut c, USER);
    let msg = transfer_message(b58(&addr), DEST, 125_000_000);
    let params = sol_params(b58(&addr), DEST, 1_000_000_000);
    let p = pending(c.call(&sign_request(USER, msg.clone(), params.clone())));
    let url = web_app_url(&rig, USER, &p.challenge);
    assert!(url.starts_with(&rig.miniapp_url), "{url}");
    let chat_text = rig.challenge_message(USER, &p.challenge).text.unwrap();

    let browser = Browser::start(&rig.miniapp_spki);

    // Approve: valid initData for the user, as Telegram's client would hand it to the page.
    let init = rig.emu.web_app_init_data(rig.bot(), USER).unwrap();
    browser.goto(&page_url(&url, &init));
    browser.wait_text("status", "Signed for this request by signer key");
    assert_eq!(browser.text("description"), p.description);
    // The key fingerprint the page checked is the one the chat message shows.
    let fingerprint = browser.text("fingerprint");
    assert!(
        chat_text.contains(&format!("Signer key: {fingerprint}")),
        "{fingerprint} / {chat_text}"
    );
    assert_eq!(browser.text("digest"), p.request_digest);
    browser.screenshot(&artifact("miniapp-before-approve.png"));
    browser.click("button-0");
    let result = browser.wait_text("result", "Signed: ");
    browser.screenshot(&artifact("miniapp-approved.png"));
    match wait_outcome(&mut c, USER, &p.challenge) {
        Response::Signed { signature, .. } => {
            assert!(verifies(&addr, &msg, &signature));
            assert!(result.contains(&signature), "{result}");
        }
        other => panic!("{other:?}"),
    }

    // Reject, in a second run.
    let p2 = pending(c.call(&sign_request(
        USER,
        transfer_message(b58(&addr), DEST, 7),
        params.clone(),
    )));
    let url2 = web_app_url(&rig, USER, &p2.challenge);
    browser.goto(&page_url(
        &url2,
        &rig.emu.web_app_init_data(rig.bot(), USER).unwrap(),
    ));
    browser.wait_text("status", "Signed for this request by signer key");
    assert_eq!(
        browser.eval("return document.getElementById('button-1').textContent"),
        "Reject"
    );
    browser.click("button-1");
    browser.wait_text("result", "Rejected.");
    browser.screenshot(&artifact("miniapp-rejected.png"));
    assert!(matches!(
        wait_outcome(&mut c, USER, &p2.challenge),
        Response::Rejected { .. }
    ));

    // Forged, stale and foreign initData: the page is refused and shows no description.
    let p3 = pending(c.call(&sign_request(
        USER,
        transfer_message(b58(&addr), DEST, 9),
        params,
    )));
    let url3 = web_app_url(&rig, USER, &p3.challenge);
    let good = rig.emu.web_app_init_data(rig.bot(), USER).unwrap();
    // One character of the HMAC changed: what a relay that edits initData ends up with.
    let mut forged = good.clone().into_bytes();
    let at = good.find("hash=").unwrap() + "hash=".len();
    forged[at] = if forged[at] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).unwrap();
    let stale = rig
        .emu
        .web_app_init_data_at(rig.bot(), USER, unix_now() - 7200)
        .unwrap();
    let other_user = rig.emu.web_app_init_data(rig.bot(), 602).unwrap();
    for (name, init, needle) in [
        ("forged", forged.as_str(), "Refused: initData refused"),
        ("stale", stale.as_str(), "Refused: initData refused"),
        (
            "other-user",
            other_user.as_str(),
            "Refused: no open request",
        ),
    ] {
        browser.goto(&page_url(&url3, init));
        browser.wait_text("status", needle);
        assert_eq!(browser.text("description"), "", "{name}");
        browser.screenshot(&artifact(&format!("miniapp-refused-{name}.png")));
    }
    // Nothing was decided by those pages.
    assert!(matches!(
        c.call(&Request::ChallengeOutcome {
            user: USER,
            challenge: p3.challenge.clone()
        }),
        Ok(Response::Waiting { .. })
    ));
}
