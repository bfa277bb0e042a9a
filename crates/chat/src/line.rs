//! Messages of one conversation reach the supervisor, and their answers reach the room, in
//! the order they came. Each message runs in a task of its own (so a long answer holds up
//! nothing), and tasks start and send in any order; so each turn waits for the one before
//! it in its conversation to be accepted (on the daemon's disk) before it asks for its
//! own, and for the one before to show its answer before it shows its own.

use std::collections::HashMap;

use tokio::sync::oneshot;

/// One step a message takes only after the message before it in its conversation did.
/// A message that gives up on its step (its link dropped) lets the next go, but never
/// ahead of the one before it: the line keeps its order past a message that drops out.
#[derive(Debug, Default)]
pub struct Link {
    before: Option<oneshot::Receiver<()>>,
    done: Option<oneshot::Sender<()>>,
}

impl Link {
    /// Until the message before this one took this step, or gave up on it. Cancel-safe:
    /// a wait given up on leaves the link as it was.
    pub async fn wait(&mut self) {
        if let Some(before) = self.before.as_mut() {
            let _ = before.await;
        }
        self.before = None;
    }

    /// This message took the step: let the next go (once the one before did too).
    pub fn done(&mut self) {
        let Some(done) = self.done.take() else {
            return;
        };
        match self.before.take() {
            None => {
                let _ = done.send(());
            }
            Some(before) => {
                // Outside a runtime there is nothing to wait in: the next goes now.
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(async move {
                        let _ = before.await;
                        let _ = done.send(());
                    });
                }
            }
        }
    }

    /// One link for consecutive messages answered together: it waits for the first's
    /// predecessor and lets the last's successor go.
    pub fn spanning(links: Vec<Link>) -> Link {
        let mut links = links.into_iter();
        let Some(mut first) = links.next() else {
            return Link::default();
        };
        match links.last() {
            None => first,
            Some(mut last) => Link {
                before: first.before.take(),
                done: last.done.take(),
            },
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.done();
    }
}

/// A message whose answer may come later, by another way (a delivery): its task says,
/// once, whether it holds its place for that answer. Dropped: it holds none.
pub struct Pending {
    settle: Option<Box<dyn FnOnce(Option<Link>) + Send>>,
}

impl Pending {
    pub fn new(settle: impl FnOnce(Option<Link>) + Send + 'static) -> Self {
        Self {
            settle: Some(Box::new(settle)),
        }
    }

    /// No other way exists (nothing waits for the answer elsewhere).
    pub fn none() -> Self {
        Self { settle: None }
    }

    /// The answer comes later: `line` waits for it.
    pub fn hold(mut self, line: Link) {
        if let Some(s) = self.settle.take() {
            s(Some(line));
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(s) = self.settle.take() {
            s(None);
        }
    }
}

/// One message's place in its conversation's line.
#[derive(Debug, Default)]
pub struct Place {
    accept: Link,
    /// Its answer in the room: shown once the earlier answer is whole (a Streamer holds it).
    pub post: Link,
}

impl Place {
    /// Until the message before this one was accepted, or given up on.
    pub async fn wait(&mut self) {
        self.accept.wait().await;
    }

    /// Let the next message go. Dropping the place does the same.
    pub fn accepted(&mut self) {
        self.accept.done();
    }
}

/// What the next message of a conversation waits for.
struct Last {
    accepted: oneshot::Receiver<()>,
    posted: oneshot::Receiver<()>,
}

/// The last place handed out in each conversation of one bot.
#[derive(Default)]
pub struct Line {
    last: HashMap<String, Last>,
}

/// Past this many conversations, those with nothing waiting are forgotten.
const REMEMBERED: usize = 256;

/// A step that is over: its sender sent or went away.
fn over(rx: &mut oneshot::Receiver<()>) -> bool {
    !matches!(rx.try_recv(), Err(oneshot::error::TryRecvError::Empty))
}

impl Line {
    /// A place behind the conversation's last message, taken in the order messages came.
    pub fn place(&mut self, conversation: &str) -> Place {
        if self.last.len() > REMEMBERED {
            self.last
                .retain(|_, l| !(over(&mut l.accepted) && over(&mut l.posted)));
        }
        let (accepted, accepted_rx) = oneshot::channel();
        let (posted, posted_rx) = oneshot::channel();
        let mine = Last {
            accepted: accepted_rx,
            posted: posted_rx,
        };
        let before = self.last.insert(conversation.to_string(), mine);
        let (accept_before, post_before) = match before {
            Some(l) => (Some(l.accepted), Some(l.posted)),
            None => (None, None),
        };
        Place {
            accept: Link {
                before: accept_before,
                done: Some(accepted),
            },
            post: Link {
                before: post_before,
                done: Some(posted),
            },
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

    #[tokio::test]
    async fn an_answer_shows_only_after_the_one_before_it_did() {
        let mut line = Line::default();
        let (mut first, mut second) = (line.place("c"), line.place("c"));
        // Both accepted: the daemon took them in order.
        first.accepted();
        second.wait().await;
        second.accepted();
        first.post.wait().await;
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(50), second.post.wait()).await;
        assert!(waiting.is_err(), "the second answer showed first");
        first.post.done();
        second.post.wait().await;
    }

    #[tokio::test]
    async fn one_that_drops_out_lets_the_next_go_only_after_the_one_before_it() {
        let mut line = Line::default();
        let (mut first, second, mut third) = (line.place("c"), line.place("c"), line.place("c"));
        drop(second);
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(50), third.post.wait()).await;
        assert!(waiting.is_err(), "the third went before the first showed");
        first.post.wait().await;
        first.post.done();
        third.post.wait().await;
    }

    #[test]
    fn conversations_with_nothing_in_line_are_forgotten() {
        let mut line = Line::default();
        for i in 0..=REMEMBERED + 1 {
            let mut p = line.place(&i.to_string());
            p.accepted();
            p.post.done();
        }
        assert!(line.last.len() <= 2, "{}", line.last.len());
    }
}
