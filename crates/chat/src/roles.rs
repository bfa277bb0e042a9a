//! Roles in the room's power levels: a resident's approvers are raised to moderator
//! (APPROVER_LEVEL) in rooms where its bot may change power levels (a room townhall was
//! given to run), so a client shows who answers the approvals. Never lowers anyone: a
//! room's admins may have set other levels on purpose.

use townhall_os::OsError;

use super::Chat;

/// Element's "Moderator".
pub const APPROVER_LEVEL: i64 = 50;

/// A room's power levels as far as roles need them; None is a creator's unbounded level
/// (room version 12).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Levels {
    /// The bot may send m.room.power_levels here.
    pub may_change: bool,
    pub mine: Option<i64>,
    /// The users asked about, with their levels.
    pub users: Vec<(String, Option<i64>)>,
}

/// Who to raise to `level`: only where the bot may change levels and holds `level` itself,
/// only those below it.
pub fn to_raise(l: &Levels, level: i64) -> Vec<String> {
    let holds = l.mine.is_none_or(|m| m >= level);
    if !l.may_change || !holds {
        return Vec::new();
    }
    l.users
        .iter()
        .filter(|(_, at)| at.is_some_and(|a| a < level))
        .map(|(u, _)| u.clone())
        .collect()
}

/// Raise `approvers` in `room` where the bot may; what it raised.
pub async fn reflect<C: Chat>(
    chat: &C,
    room: &str,
    approvers: &[String],
) -> Result<Vec<String>, OsError> {
    let levels = chat.levels(room, approvers).await?;
    let raise = to_raise(&levels, APPROVER_LEVEL);
    if !raise.is_empty() {
        chat.set_level(room, &raise, APPROVER_LEVEL).await?;
        tracing::info!(%room, ?raise, "approvers raised to moderator");
    }
    Ok(raise)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approvers_are_raised_only_where_the_bot_may_and_never_lowered() {
        let users = vec![
            ("@rita:t".to_string(), Some(0)),
            ("@boss:t".to_string(), Some(100)),
            ("@made:t".to_string(), None),
        ];
        let l = Levels {
            may_change: true,
            mine: Some(100),
            users,
        };
        assert_eq!(to_raise(&l, 50), vec!["@rita:t".to_string()]);
        let weak = Levels {
            mine: Some(40),
            ..l.clone()
        };
        assert!(to_raise(&weak, 50).is_empty(), "a level it does not hold");
        let barred = Levels {
            may_change: false,
            ..l.clone()
        };
        assert!(to_raise(&barred, 50).is_empty(), "a room it does not run");
        let creator = Levels { mine: None, ..l };
        assert_eq!(to_raise(&creator, 50).len(), 1);
    }
}
