//! Messages of one conversation reach the supervisor in the order they came. Each message
//! runs in a task of its own (so a long answer holds up nothing), and tasks start in any
//! order; so each turn waits for the one before it in its conversation to be accepted
//! (on the daemon's disk) before it asks for its own.

use std::collections::HashMap;

use tokio::sync::oneshot;

/// One message's place in its conversation's line.
#[derive(Debug, Default)]
pub struct Place {
    before: Option<oneshot::Receiver<()>>,
    accepted: Option<oneshot::Sender<()>>,
}

impl Place {
    /// Until the message before this one was accepted, or given up on.
    pub async fn wait(&mut self) {
        if let Some(before) = self.before.take() {
            let _ = before.await;
        }
    }

    /// Let the next message go. Dropping the place does the same.
    pub fn accepted(&mut self) {
        if let Some(a) = self.accepted.take() {
            let _ = a.send(());
        }
    }
}

/// The last place handed out in each conversation of one bot.
#[derive(Default)]
pub struct Line {
    last: HashMap<String, oneshot::Receiver<()>>,
}

/// Past this many conversations, those with nothing waiting are forgotten.
const REMEMBERED: usize = 256;

impl Line {
    /// A place behind the conversation's last message, taken in the order messages came.
    pub fn place(&mut self, conversation: &str) -> Place {
        if self.last.len() > REMEMBERED {
            self.last
                .retain(|_, rx| matches!(rx.try_recv(), Err(oneshot::error::TryRecvError::Empty)));
        }
        let (tx, rx) = oneshot::channel();
        let before = self.last.insert(conversation.to_string(), rx);
        Place {
            before,
            accepted: Some(tx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_waits_for_the_one_before_in_its_conversation_only() {
        let mut line = Line::default();
        let mut first = line.place("c");
        let mut second = line.place("c");
        let mut elsewhere = line.place("d");
        elsewhere.wait().await; // another conversation waits for nothing
        first.wait().await;
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(50), second.wait()).await;
        assert!(
            waiting.is_err(),
            "the second went before the first was accepted"
        );
        first.accepted();
        second.wait().await;
        let mut third = line.place("c");
        drop(second); // given up on (the daemon refused it): the next goes on
        third.wait().await;
    }

    #[test]
    fn conversations_with_nothing_in_line_are_forgotten() {
        let mut line = Line::default();
        for i in 0..=REMEMBERED + 1 {
            line.place(&i.to_string()).accepted();
        }
        assert!(line.last.len() <= 2, "{}", line.last.len());
    }
}
