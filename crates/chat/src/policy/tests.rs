//! What an incoming message means, decided for a DM, a shared room, a stranger, another
//! resident, a file and each mayors-only command.

use super::*;

fn msg<'a>(sender: &'a str, body: &'a str, direct: bool) -> Incoming<'a> {
    Incoming {
        sender,
        me: "@ada:town.test",
        name: "ada",
        body,
        is_notice: false,
        is_edit: false,
        direct,
        mentioned: false,
        allowed: sender == "@mayor:town.test",
        is_mayor: sender == "@mayor:town.test",
        approver: sender == "@rita:town.test",
        from_resident: sender == "@vox:town.test",
        file: false,
    }
}

#[test]
fn files_come_from_allowed_humans_in_a_dm_or_with_an_addressing_caption() {
    let file = |sender, body, direct| Incoming {
        file: true,
        ..msg(sender, body, direct)
    };
    assert_eq!(
        decide(&file("@mayor:town.test", "", true)),
        Decision::Act(Command::File { caption: None })
    );
    assert_eq!(
        decide(&file("@mayor:town.test", "ada: what is this?", false)),
        Decision::Act(Command::File {
            caption: Some("what is this?".into())
        })
    );
    assert_eq!(
        decide(&file("@mayor:town.test", "", false)),
        Decision::Pass,
        "a shared room's file for nobody in particular"
    );
    assert!(matches!(
        decide(&file("@eve:town.test", "", true)),
        Decision::Refused(_)
    ));
    assert_eq!(
        decide(&file("@vox:town.test", "ada: take this", false)),
        Decision::Pass,
        "residents do not hand each other files"
    );
}

#[test]
fn in_a_dm_every_message_is_for_the_resident() {
    assert_eq!(
        decide(&msg("@mayor:town.test", "fix the build", true)),
        Decision::Act(Command::Turn("fix the build".into()))
    );
    assert_eq!(
        decide(&msg("@mayor:town.test", "!stop", true)),
        Decision::Act(Command::Stop)
    );
    assert_eq!(
        decide(&msg("@mayor:town.test", "!log 5", true)),
        Decision::Act(Command::Log(5))
    );
    assert_eq!(
        decide(&msg("@mayor:town.test", "!branches", true)),
        Decision::Act(Command::Branches)
    );
}

#[test]
fn in_a_shared_room_only_when_addressed() {
    assert_eq!(
        decide(&msg("@mayor:town.test", "vox: summarise this", false)),
        Decision::Pass
    );
    assert_eq!(
        decide(&msg("@mayor:town.test", "ada: run the tests", false)),
        Decision::Act(Command::Turn("run the tests".into()))
    );
    assert_eq!(
        decide(&msg("@mayor:town.test", "@ada:town.test, hi", false)),
        Decision::Act(Command::Turn("hi".into()))
    );
    let mut m = msg("@mayor:town.test", "what do you think?", false);
    m.mentioned = true;
    assert_eq!(
        decide(&m),
        Decision::Act(Command::Turn("what do you think?".into()))
    );
}

#[test]
fn strangers_never_start_turns_and_own_messages_notices_edits_pass() {
    assert!(matches!(
        decide(&msg("@eve:town.test", "rm -rf /", true)),
        Decision::Refused(_)
    ));
    // A display name that looks like the mayor's changes nothing: identity is the user ID.
    assert!(matches!(
        decide(&msg("@mayor2:town.test", "hi", true)),
        Decision::Refused(_)
    ));
    assert_eq!(decide(&msg("@ada:town.test", "hi", true)), Decision::Pass);
    let mut n = msg("@mayor:town.test", "hi", true);
    n.is_notice = true;
    assert_eq!(decide(&n), Decision::Pass);
    n.is_notice = false;
    n.is_edit = true;
    assert_eq!(decide(&n), Decision::Pass);
}

#[test]
fn residents_talk_to_each_other_only_by_addressing_and_when_allowed() {
    let mut m = msg("@vox:town.test", "ada: can you check?", false);
    assert!(
        matches!(decide(&m), Decision::Refused(_)),
        "vox is not in ada's allow"
    );
    m.allowed = true;
    assert_eq!(
        decide(&m),
        Decision::Act(Command::Turn("can you check?".into()))
    );
    let mut dm = msg("@vox:town.test", "I think so", true);
    dm.allowed = true;
    assert_eq!(decide(&dm), Decision::Pass);
    // A resident's "!reset" is a prompt at most, never a command.
    let mut r = msg("@vox:town.test", "ada: !reset", false);
    r.allowed = true;
    assert_eq!(decide(&r), Decision::Act(Command::Turn("!reset".into())));
}

#[test]
fn reset_is_for_mayors() {
    let mut m = msg("@friend:town.test", "!reset", true);
    m.allowed = true;
    assert_eq!(
        decide(&m),
        Decision::MayorsOnly(Command::Reset { all: false })
    );
    let yes = Incoming {
        body: "!reset yes",
        ..m.clone()
    };
    assert_eq!(decide(&yes), Decision::MayorsOnly(Command::ResetYes));
    let mayor = msg("@mayor:town.test", "!reset yes", true);
    assert_eq!(decide(&mayor), Decision::Act(Command::ResetYes));
    let all = Incoming {
        body: "!reset all",
        ..m.clone()
    };
    assert_eq!(
        decide(&all),
        Decision::MayorsOnly(Command::Reset { all: true })
    );
    let act = |body| decide(&msg("@mayor:town.test", body, true));
    assert_eq!(act("!reset"), Decision::Act(Command::Reset { all: false }));
    assert_eq!(
        act("!reset all"),
        Decision::Act(Command::Reset { all: true })
    );
    assert!(
        matches!(act("!reset everything"), Decision::Act(Command::Usage(_))),
        "an unknown word changes nothing"
    );
}

#[test]
fn checkpoints_and_rollbacks_read_their_words_and_only_listing_is_for_everyone() {
    let act = |body| decide(&msg("@mayor:town.test", body, true));
    assert_eq!(
        act("!checkpoint before the refactor"),
        Decision::Act(Command::Checkpoint("before the refactor".into()))
    );
    assert_eq!(
        act("!checkpoint"),
        Decision::Act(Command::Checkpoint(String::new()))
    );
    assert_eq!(act("!checkpoints"), Decision::Act(Command::Checkpoints));
    assert_eq!(act("!rollback 3"), Decision::Act(Command::Rollback(3)));
    assert_eq!(act("!rollback yes"), Decision::Act(Command::RollbackYes));
    for bad in ["!rollback", "!rollback three", "!rollback 3 now"] {
        assert!(
            matches!(act(bad), Decision::Act(Command::Usage(_))),
            "{bad}"
        );
    }
    let mut friend = msg("@friend:town.test", "!rollback 3", true);
    friend.allowed = true;
    assert_eq!(decide(&friend), Decision::MayorsOnly(Command::Rollback(3)));
    friend.body = "!checkpoint x";
    assert_eq!(
        decide(&friend),
        Decision::MayorsOnly(Command::Checkpoint("x".into()))
    );
    friend.body = "!checkpoints";
    assert_eq!(decide(&friend), Decision::Act(Command::Checkpoints));
}

#[test]
fn device_commands_read_their_words_and_lending_is_for_mayors() {
    let act = |body| decide(&msg("@mayor:town.test", body, true));
    let lease = DeviceCommand::Lease {
        device: "ttyUSB0".into(),
        resident: "ada".into(),
        secs: 7200,
    };
    assert_eq!(
        act("!lease ttyUSB0 ada 2h"),
        Decision::Act(Command::Device(lease.clone()))
    );
    assert_eq!(
        act("!tail ttyS0 9600"),
        Decision::Act(Command::Device(DeviceCommand::Tail {
            device: "ttyS0".into(),
            baud: Some(9600)
        }))
    );
    assert_eq!(
        act("!untail ttyS0"),
        Decision::Act(Command::Device(DeviceCommand::Untail("ttyS0".into())))
    );
    for wrong in [
        "!lease ttyUSB0 ada",
        "!lease ttyUSB0 ada soon",
        "!tail ttyS0 123",
        "!release",
        "!tail",
    ] {
        assert!(
            matches!(act(wrong), Decision::Act(Command::Usage(_))),
            "{wrong}"
        );
    }
    let mut friend = msg("@friend:town.test", "!lease ttyUSB0 ada 2h", true);
    friend.allowed = true;
    assert_eq!(
        decide(&friend),
        Decision::MayorsOnly(Command::Device(lease))
    );
    let list = Incoming {
        body: "!devices",
        ..friend
    };
    assert_eq!(
        decide(&list),
        Decision::Act(Command::Device(DeviceCommand::List))
    );
}

#[test]
fn schedules_read_a_quoted_spec_and_only_listing_is_for_everyone() {
    let act = |body| decide(&msg("@mayor:town.test", body, true));
    assert_eq!(
        act("!every \"Mon..Fri 07:00\" run the tests and report"),
        Decision::Act(Command::Every {
            on: "Mon..Fri 07:00".into(),
            prompt: "run the tests and report".into()
        })
    );
    assert_eq!(
        act("!every hourly check the queue"),
        Decision::Act(Command::Every {
            on: "hourly".into(),
            prompt: "check the queue".into()
        })
    );
    for bad in [
        "!every",
        "!every \"daily\"",
        "!every \"daily run",
        "!every daily",
    ] {
        assert!(
            matches!(act(bad), Decision::Act(Command::Usage(_))),
            "{bad}"
        );
    }
    assert_eq!(act("!schedules"), Decision::Act(Command::Schedules));
    assert_eq!(act("!unschedule 3"), Decision::Act(Command::Unschedule(3)));
    assert!(matches!(
        act("!unschedule x"),
        Decision::Act(Command::Usage(_))
    ));
    let mut friend = msg("@friend:town.test", "!every daily x", true);
    friend.allowed = true;
    assert!(matches!(decide(&friend), Decision::MayorsOnly(_)));
    friend.body = "!unschedule 1";
    assert!(matches!(decide(&friend), Decision::MayorsOnly(_)));
    friend.body = "!schedules";
    assert_eq!(decide(&friend), Decision::Act(Command::Schedules));
}

#[test]
fn an_approver_who_may_not_command_reads_and_clears_the_round_only() {
    assert_eq!(
        decide(&msg("@rita:town.test", "ada: !approvals clear", false)),
        Decision::Act(Command::Approvals { clear: true })
    );
    assert!(matches!(
        decide(&msg("@rita:town.test", "ada: fix the build", false)),
        Decision::Refused(_)
    ));
    assert!(matches!(
        decide(&msg("@eve:town.test", "ada: !approvals", false)),
        Decision::Refused(_)
    ));
}

#[test]
fn a_count_is_optional_bounded_and_alone() {
    let c = |body: &str| decide(&msg("@mayor:town.test", body, true));
    assert_eq!(c("!usage"), Decision::Act(Command::Spending(14)));
    assert_eq!(c("!usage 30"), Decision::Act(Command::Spending(30)));
    assert!(matches!(c("!usage 91"), Decision::Act(Command::Usage(_))));
    assert_eq!(c("!audit 5"), Decision::Act(Command::Audit(5)));
    assert!(matches!(
        c("!audit 5 more"),
        Decision::Act(Command::Usage(_))
    ));
    assert!(matches!(
        decide(&Incoming {
            allowed: true,
            ..msg("@chatter:town.test", "!audit", true)
        }),
        Decision::MayorsOnly(Command::Audit(10))
    ));
}
