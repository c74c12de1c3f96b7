//! The example business logic (`kms-bot`) end to end: users talk to the trading bot, approve in
//! the signer bot, both bots on the Bot API emulator, the signer's real processes behind them.
//! The trading bot never sees a seed word, a decision token or a code.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/telegram.rs"]
mod rig;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kms_bot::{Config, TradingBot};
use kms_telegram::api::Message;
use kms_telegram::{BotClient, BotToken};
use rig::{Rig, buttons, chat, user};

const TRADING_BOT_TOKEN: &str = "7000000002:AAF-tradingBotSecret_0123456789abcdefgh";
const MINT: &str = "4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R";
const CREATOR: &str = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM";

struct Running {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start_bot(rig: &Rig) -> (u64, Running) {
    let token = BotToken::parse(TRADING_BOT_TOKEN).unwrap();
    rig.emu.add_bot(&token, "trading_bot");
    let tg = BotClient::builder(token.clone())
        .base_url(rig.emu.base_url())
        .ca_pem(rig.emu.ca_pem().as_bytes())
        .build()
        .unwrap();
    let bot = Arc::new(
        TradingBot::new(
            tg,
            Config {
                kms_socket: rig.kms.socket(),
                signer_bot: "kms_signer_bot".into(),
                rpc_url: None,
                poll_timeout_secs: 1,
            },
        )
        .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    let thread = std::thread::spawn(move || bot.run(&s).unwrap());
    (
        token.bot_id(),
        Running {
            stop,
            thread: Some(thread),
        },
    )
}

/// Waits for a message in `bot`'s chat with `user` whose text contains `needle`.
fn wait_text(rig: &Rig, bot: u64, user: u64, needle: &str) -> Message {
    rig.emu
        .wait_for_message(bot, chat(user), Duration::from_secs(30), |m| {
            m.text.as_deref().is_some_and(|t| t.contains(needle))
        })
        .unwrap_or_else(|| {
            let seen: Vec<String> = rig
                .emu
                .messages(bot, chat(user))
                .into_iter()
                .filter_map(|m| m.text)
                .collect();
            panic!(
                "no message with {needle:?} in chat {user}: {seen:#?}\n{}",
                rig.kms.log_text()
            )
        })
}

/// Presses `label` on the signer chat's open challenge whose text contains `needle`.
fn approve_in_signer_chat(rig: &Rig, user: u64, needle: &str, label: &str) {
    let m = rig
        .emu
        .wait_for_message(rig.bot(), chat(user), Duration::from_secs(30), |m| {
            m.reply_markup.is_some() && m.text.as_deref().is_some_and(|t| t.contains(needle))
        })
        .unwrap_or_else(|| panic!("no challenge with {needle:?} for {user}"));
    let q = rig
        .emu
        .press_button(rig.bot(), chat(user), m.message_id, label)
        .unwrap_or_else(|e| panic!("{e}: {:?} in {:?}", buttons(&m), m.text));
    rig.callback_answer(&q);
}

#[test]
fn trading_bot_sends_arms_a_limit_order_and_revokes_without_touching_a_secret() {
    let rig = Rig::start(&[701, 702]);
    let (bot, _running) = start_bot(&rig);

    // Starting a chat with the trading bot sends /start, as Telegram does.
    rig.emu.start_chat(bot, user(702)).unwrap();
    wait_text(&rig, bot, 702, "Your wallet: ");
    rig.emu.start_chat(bot, user(701)).unwrap();
    let hello = wait_text(&rig, bot, 701, "Your wallet: ").text.unwrap();
    assert!(hello.contains("@kms_signer_bot"), "{hello}");
    // The phrase went to the signer chat only.
    let phrase = wait_text(&rig, rig.bot(), 701, "Your recovery phrase")
        .text
        .unwrap();

    rig.emu.send_text(bot, 701, "/send @user702 0.1").unwrap();
    let ask = wait_text(&rig, bot, 701, "Approve in @kms_signer_bot")
        .text
        .unwrap();
    assert!(ask.contains("transfer 0.1 SOL"), "{ask}");
    approve_in_signer_chat(&rig, 701, "transfer 0.1 SOL", "Approve");
    let sent = wait_text(&rig, bot, 701, "Signed: 0.1 SOL to @user702")
        .text
        .unwrap();
    assert!(sent.contains("Signature: "), "{sent}");

    // A rejected send is reported as such.
    rig.emu.send_text(bot, 701, "/send @user702 0.2").unwrap();
    wait_text(&rig, bot, 701, "transfer 0.2 SOL");
    approve_in_signer_chat(&rig, 701, "transfer 0.2 SOL", "Reject");
    wait_text(&rig, bot, 701, "You rejected: 0.2 SOL to @user702");

    // A limit order: a standing intent the user approves once.
    rig.emu
        .send_text(bot, 701, &format!("/limit {MINT} {CREATOR} 0.5 1000"))
        .unwrap();
    wait_text(&rig, bot, 701, "Approve the limit order in @kms_signer_bot");
    approve_in_signer_chat(&rig, 701, "pumpfun-trade", "Approve intent");
    let armed = wait_text(&rig, bot, 701, "Armed as standing intent #")
        .text
        .unwrap();
    let id: u64 = armed
        .split('#')
        .nth(1)
        .and_then(|s| s.split(':').next())
        .unwrap()
        .parse()
        .unwrap();
    rig.emu.send_text(bot, 701, "/revoke").unwrap();
    wait_text(&rig, bot, 701, &format!("#{id} (0 of 1 uses)"));
    rig.emu
        .send_text(bot, 701, &format!("/revoke {id}"))
        .unwrap();
    wait_text(&rig, bot, 701, &format!("Standing intent #{id} revoked."));

    rig.emu.send_text(bot, 701, "/balance").unwrap();
    wait_text(&rig, bot, 701, "no RPC configured");
    rig.emu.send_text(bot, 701, "/send @nobody 1").unwrap();
    wait_text(&rig, bot, 701, "Not done: @nobody has no wallet here");

    // Nothing secret ever reached the trading bot's chats: no seed word, no decision token.
    let words: Vec<&str> = phrase
        .lines()
        .filter_map(|l| l.trim_start().split_once(". "))
        .filter(|(n, _)| n.parse::<u8>().is_ok())
        .map(|(_, w)| w)
        .collect();
    assert_eq!(words.len(), 24, "{phrase}");
    let tokens: Vec<String> = rig
        .messages(701)
        .iter()
        .flat_map(buttons)
        .map(|b| b.1)
        .filter(|d| !d.is_empty())
        .collect();
    assert!(!tokens.is_empty());
    for m in rig.emu.messages(bot, chat(701)) {
        let text = m.text.unwrap_or_default();
        let text_words: Vec<&str> = text.split_whitespace().collect();
        assert!(
            !words.iter().all(|w| text_words.contains(w)),
            "the phrase reached the trading bot: {text}"
        );
        for t in &tokens {
            assert!(
                !text.contains(t.as_str()),
                "a token reached the trading bot"
            );
        }
    }
}
