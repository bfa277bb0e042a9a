//! Town tests: boot a real town (systemd as PID 1 in a container, btrfs on a loop device,
//! Synapse on loopback, host udevd) and drive it as a user would. Needs root.
//!
//! One town is booted for all trials (booting takes ~30 s), then torn down; the last trials
//! check that teardown left nothing behind, after success and after a failed start.

mod checks;
mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use checks::{
    allowed as al, answers as an, approvals as ap, clis as cl, commands as cm, costs as co,
    devices as dv, files as fi, foundation as f, gathering as ga, grants as g, handoff as ho,
    hardening as h, hoarding as hd, levelling as l, losses as lo, notices as nt, quarantine as qu,
    remote as rm, retired as rt, rounds as r, signing as s, split as sp, turns as tu,
    unfinished as uf,
};
use libtest_mimic::{Arguments, Failed, Trial};
use support::town::{self, Options, Town};

fn run_dir(tag: &str) -> PathBuf {
    std::env::var_os("TOWN_RUN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/townhall-town"))
        .with_extension(tag)
}

type Check = fn(&Town) -> anyhow::Result<()>;

/// In order: later checks build on the state earlier ones leave (one town for all).
const CHECKS: &[(&str, Check)] = &[
    (
        "systemd_is_pid1_and_running",
        f::systemd_is_pid1_and_running,
    ),
    (
        "synapse_answers_and_the_mayor_logs_in",
        f::synapse_answers_and_the_mayor_logs_in,
    ),
    (
        "both_subvolumes_exist_on_the_btrfs",
        f::both_subvolumes_exist_on_the_btrfs,
    ),
    (
        "the_daemon_runs_as_a_service_and_reports_status",
        f::the_daemon_runs_as_a_service_and_reports_status,
    ),
    (
        "status_says_how_to_start_a_stopped_daemon",
        f::status_says_how_to_start_a_stopped_daemon,
    ),
    (
        "the_control_socket_is_root_only",
        f::the_control_socket_is_root_only,
    ),
    (
        "check_runs_inside_on_the_installed_config",
        f::check_runs_inside_on_the_installed_config,
    ),
    (
        "rounds::residents_are_users_with_private_homes",
        r::residents_are_users_with_private_homes,
    ),
    (
        "rounds::secrets_land_with_their_owner_and_mode",
        r::secrets_land_with_their_owner_and_mode,
    ),
    (
        "rounds::a_reset_keeps_only_what_is_persisted",
        r::a_reset_keeps_only_what_is_persisted,
    ),
    (
        "rounds::reset_refuses_unsafe_layouts_and_changes_nothing",
        r::reset_refuses_unsafe_layouts_and_changes_nothing,
    ),
    (
        "rounds::a_cli_reset_says_what_is_lost_and_needs_a_yes",
        r::a_cli_reset_says_what_is_lost_and_needs_a_yes,
    ),
    (
        "rounds::init_prepares_a_fresh_host_and_is_idempotent",
        r::init_prepares_a_fresh_host_and_is_idempotent,
    ),
    (
        "rounds::the_old_round_is_retired_and_deleted_in_the_background",
        r::the_old_round_is_retired_and_deleted_in_the_background,
    ),
    (
        "rounds::a_garbled_round_counter_is_named_and_the_next_start_repairs_it",
        r::a_garbled_round_counter_is_named_and_the_next_start_repairs_it,
    ),
    (
        "retired::the_retired_round_is_roots_at_once_and_deleted_by_id",
        rt::the_retired_round_is_roots_at_once_and_deleted_by_id,
    ),
    (
        "rounds::a_reboot_resets_before_the_supervisor_starts",
        r::a_reboot_resets_before_the_supervisor_starts,
    ),
    (
        "a_reboot_comes_back_running",
        f::systemd_is_pid1_and_running,
    ),
    (
        "turns::a_turn_runs_as_the_resident_in_its_user_manager",
        tu::a_turn_runs_as_the_resident_in_its_user_manager,
    ),
    (
        "turns::output_arrives_line_by_line",
        tu::output_arrives_line_by_line,
    ),
    (
        "turns::timeouts_stops_and_crashes_are_reported",
        tu::timeouts_stops_and_crashes_are_reported,
    ),
    (
        "turns::residents_run_together_and_a_conversation_in_order",
        tu::residents_run_together_and_a_conversation_in_order,
    ),
    (
        "turns::a_second_turn_resumes_the_session_and_new_starts_fresh",
        tu::a_second_turn_resumes_the_session_and_new_starts_fresh,
    ),
    (
        "clis::the_pinned_agent_clis_run_as_a_resident",
        cl::the_pinned_agent_clis_run_as_a_resident,
    ),
    (
        "clis::claude_answers_in_matrix_runs_its_tool_and_resumes",
        cl::claude_answers_in_matrix_runs_its_tool_and_resumes,
    ),
    (
        "clis::claude_waits_for_a_mayors_approval",
        ap::claude_waits_for_a_mayors_approval,
    ),
    (
        "clis::gemini_waits_for_a_mayors_approval",
        ap::gemini_waits_for_a_mayors_approval,
    ),
    (
        "clis::codex_answers_in_matrix_runs_its_tool_and_resumes",
        cl::codex_answers_in_matrix_runs_its_tool_and_resumes,
    ),
    (
        "clis::gemini_answers_in_matrix_runs_its_tool_and_resumes",
        cl::gemini_answers_in_matrix_runs_its_tool_and_resumes,
    ),
    (
        "costs::what_turns_spend_is_shown_and_a_spent_budget_stops_turns",
        co::what_turns_spend_is_shown_and_a_spent_budget_stops_turns,
    ),
    (
        "handoff::a_conversation_is_picked_up_at_a_terminal",
        ho::a_conversation_is_picked_up_at_a_terminal,
    ),
    (
        "chat::the_mayor_dms_ada_and_gets_a_streamed_answer",
        an::the_mayor_dms_ada_and_gets_a_streamed_answer,
    ),
    (
        "chat::ada_answers_in_an_encrypted_dm",
        an::ada_answers_in_an_encrypted_dm,
    ),
    (
        "chat::strangers_start_no_turn_and_their_invites_are_declined",
        al::strangers_start_no_turn_and_their_invites_are_declined,
    ),
    (
        "chat::in_a_shared_room_a_name_prefix_reaches_only_that_resident",
        al::in_a_shared_room_a_name_prefix_reaches_only_that_resident,
    ),
    (
        "chat::stop_new_and_status_work_from_chat",
        cm::stop_new_and_status_work_from_chat,
    ),
    (
        "chat::restarts_of_townhall_and_synapse_lose_nothing_and_answer_once",
        an::restarts_of_townhall_and_synapse_lose_nothing_and_answer_once,
    ),
    (
        "chat::a_100_kb_answer_arrives_whole_with_fences_intact",
        an::a_100_kb_answer_arrives_whole_with_fences_intact,
    ),
    (
        "chat::a_resident_to_resident_loop_stops_at_the_hop_limit",
        al::a_resident_to_resident_loop_stops_at_the_hop_limit,
    ),
    (
        "chat::a_resident_commands_another_only_when_its_allow_says_so",
        al::a_resident_commands_another_only_when_its_allow_says_so,
    ),
    (
        "chat::a_mayor_resets_the_round_from_chat",
        cm::a_mayor_resets_the_round_from_chat,
    ),
    (
        "split::the_chat_runs_as_its_own_user_and_root_has_no_network",
        sp::the_chat_runs_as_its_own_user_and_root_has_no_network,
    ),
    (
        "split::the_hall_refuses_other_uids_and_bad_requests",
        sp::the_hall_refuses_other_uids_and_bad_requests,
    ),
    (
        "split::killing_the_chat_mid_turn_loses_no_answer",
        sp::killing_the_chat_mid_turn_loses_no_answer,
    ),
    (
        "gathering::a_burst_is_kept_in_order_and_a_restart_loses_none",
        ga::a_burst_is_kept_in_order_and_a_restart_loses_none,
    ),
    (
        "grants::a_present_device_is_granted_at_start",
        g::a_present_device_is_granted_at_start,
    ),
    (
        "grants::ready_means_a_present_device_is_granted",
        g::ready_means_a_present_device_is_granted,
    ),
    (
        "grants::an_add_event_grants_the_device",
        g::an_add_event_grants_the_device,
    ),
    (
        "grants::a_change_event_whose_rule_resets_the_mode_is_undone",
        g::a_change_event_whose_rule_resets_the_mode_is_undone,
    ),
    (
        "grants::removing_the_rule_revokes_only_townhalls_entry",
        g::removing_the_rule_revokes_only_townhalls_entry,
    ),
    (
        "grants::device_notices_reach_the_residents_rooms",
        nt::device_notices_reach_the_residents_rooms,
    ),
    (
        "devices::a_mayor_lends_a_device_from_chat",
        dv::a_mayor_lends_a_device_from_chat,
    ),
    (
        "devices::a_descriptor_opened_during_a_lease_fails_after_release",
        dv::a_descriptor_opened_during_a_lease_fails_after_release,
    ),
    (
        "files::files_go_both_ways_in_an_encrypted_dm",
        fi::files_go_both_ways_in_an_encrypted_dm,
    ),
    (
        "files::a_file_over_the_cap_is_refused_with_a_notice",
        fi::a_file_over_the_cap_is_refused_with_a_notice,
    ),
    (
        "devices::a_mayor_tails_a_serial_console_into_a_thread",
        dv::a_mayor_tails_a_serial_console_into_a_thread,
    ),
    (
        "levelling::a_cli_reset_levels_everything_ada_planted",
        l::a_cli_reset_levels_everything_ada_planted,
    ),
    (
        "levelling::a_reset_from_chat_levels_everything_ada_planted",
        l::a_reset_from_chat_levels_everything_ada_planted,
    ),
    (
        "levelling::a_reboot_levels_everything_ada_planted",
        l::a_reboot_levels_everything_ada_planted,
    ),
    (
        "levelling::planted_persist_entries_are_quarantined_and_the_reset_completes",
        qu::planted_persist_entries_are_quarantined_and_the_reset_completes,
    ),
    (
        "levelling::a_reset_killed_at_any_step_is_finished_by_the_next",
        uf::a_reset_killed_at_any_step_is_finished_by_the_next,
    ),
    (
        "levelling::what_a_reset_moved_aside_is_told_in_adas_rooms",
        qu::what_a_reset_moved_aside_is_told_in_adas_rooms,
    ),
    (
        "levelling::what_a_confirmed_reset_lost_reaches_adas_rooms_afterwards",
        lo::what_a_confirmed_reset_lost_reaches_adas_rooms_afterwards,
    ),
    (
        "chat::what_was_said_before_ada_joined_starts_no_turn",
        al::what_was_said_before_ada_joined_starts_no_turn,
    ),
    (
        "hardening::turns_run_hardened_inside_limits_pid1_holds",
        h::turns_run_hardened_inside_limits_pid1_holds,
    ),
    (
        "hardening::drop_ins_ada_writes_do_not_change_a_turn",
        h::drop_ins_ada_writes_do_not_change_a_turn,
    ),
    (
        "hardening::stop_ends_what_a_turn_started_in_her_manager",
        h::stop_ends_what_a_turn_started_in_her_manager,
    ),
    (
        "hardening::a_wedged_bus_hangs_neither_the_reset_nor_vox",
        h::a_wedged_bus_hangs_neither_the_reset_nor_vox,
    ),
    (
        "hardening::a_200_mb_line_leaves_the_daemon_small_and_the_answer_bounded",
        h::a_200_mb_line_leaves_the_daemon_small_and_the_answer_bounded,
    ),
    (
        "hardening::a_restarted_daemon_stops_the_turns_it_lost",
        h::a_restarted_daemon_stops_the_turns_it_lost,
    ),
    (
        "hardening::the_host_check_names_what_a_town_needs",
        h::the_host_check_names_what_a_town_needs,
    ),
    (
        "hardening::noisy_stderr_and_hostile_session_ids_stay_bounded",
        h::noisy_stderr_and_hostile_session_ids_stay_bounded,
    ),
    (
        "hardening::a_turns_escapes_reach_roots_terminal_as_text",
        h::a_turns_escapes_reach_roots_terminal_as_text,
    ),
    (
        "hardening::helpers_root_runs_as_ada_run_in_her_slice",
        h::helpers_root_runs_as_ada_run_in_her_slice,
    ),
    (
        "signing::ada_signs_with_a_key_she_cannot_read",
        s::ada_signs_with_a_key_she_cannot_read,
    ),
    (
        "signing::commits_verify_across_a_reset_and_a_rotation",
        s::commits_verify_across_a_reset_and_a_rotation,
    ),
    (
        "remote::ada_pushes_a_signed_branch_and_the_mayor_verifies_it",
        rm::ada_pushes_a_signed_branch_and_the_mayor_verifies_it,
    ),
    (
        "remote::the_room_hears_of_each_push_and_branches_lists_them",
        rm::the_room_hears_of_each_push_and_branches_lists_them,
    ),
    (
        "hoarding::thousands_of_connections_from_ada_are_capped_and_vox_goes_on",
        hd::thousands_of_connections_from_ada_are_capped_and_vox_goes_on,
    ),
    (
        "hoarding::abandoned_and_oversized_pushes_are_ended_and_leave_nothing",
        hd::abandoned_and_oversized_pushes_are_ended_and_leave_nothing,
    ),
    (
        "hoarding::twenty_questions_from_one_turn_hold_only_its_cap_and_vox_is_asked_at_once",
        hd::twenty_questions_from_one_turn_hold_only_its_cap_and_vox_is_asked_at_once,
    ),
    (
        "remote::the_mayor_fetches_and_verifies_over_ssh_from_another_machine",
        rm::the_mayor_fetches_and_verifies_over_ssh_from_another_machine,
    ),
];

fn trial(town: &Arc<Town>, name: &'static str, check: Check) -> Trial {
    let town = town.clone();
    Trial::test(name, move || {
        check(&town).map_err(|e| {
            // Said at once too: the summary comes only after every later check has run.
            eprintln!("\n{name} failed: {e:#}");
            Failed::from(format!("{e:#}"))
        })
    })
}

fn nothing_is_left(run: &Path) -> Result<(), Failed> {
    let left = town::leftovers(run);
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!("left behind:\n{}", left.join("\n")).into())
    }
}

fn a_failed_start_is_torn_down(run: PathBuf) -> Result<(), Failed> {
    // A unit that fails at boot leaves the town degraded: `up` fails after the loop device,
    // mounts, Synapse and the container all exist.
    let dir = tempfile::tempdir()?;
    let unit = dir.path().join("townhall-broken.service");
    std::fs::write(
        &unit,
        "[Service]\nType=oneshot\nExecStart=/bin/false\n[Install]\nWantedBy=multi-user.target\n",
    )?;
    let up = Town::up(
        &run,
        Options {
            units: vec![unit],
            ..Options::default()
        },
    );
    let Err(_) = up else {
        return Err("a town with a failing unit came up".into());
    };
    town::down(&run).map_err(|e| format!("{e:#}"))?;
    nothing_is_left(&run)
}

fn main() {
    let args = Arguments::from_args();
    let root = nix::unistd::geteuid().is_root();
    let checks = CHECKS;
    if args.list {
        let trials = checks
            .iter()
            .map(|(n, _)| Trial::test(*n, || Ok(())))
            .collect();
        libtest_mimic::run(&args, trials).exit();
    }
    if !root {
        // Not "ignored": a run that cannot boot the town has tested nothing, and says so.
        eprintln!(
            "error: the town tests need root: they boot systemd in a container, mount btrfs and run udevd"
        );
        eprintln!(
            "  help: run them as root, e.g. `sudo bash tests/run.sh` or `sudo -E cargo test --test town`"
        );
        std::process::exit(2);
    }

    let run = run_dir("main");
    let booted = Town::up(
        &run,
        Options {
            units: town::shipped_units(),
            devices: vec!["/dev/ttyS0"],
            ..Options::default()
        },
    );
    let mut conclusion = match booted {
        Ok(town) => {
            let town = Arc::new(town);
            let trials = checks.iter().map(|(n, c)| trial(&town, n, *c)).collect();
            let mut a = args.clone();
            a.test_threads = Some(1);
            let c = libtest_mimic::run(&a, trials);
            let mut town = Arc::into_inner(town).expect("trials are done");
            if let Err(e) = town.down() {
                eprintln!("teardown: {e:#}");
            }
            c
        }
        Err(e) => {
            eprintln!("the town did not come up: {e:#}");
            let _ = town::down(&run);
            let trials = checks.iter().map(|(n, _)| {
                let msg = format!("the town did not come up: {e:#}");
                Trial::test(*n, move || Err(msg.clone().into()))
            });
            libtest_mimic::run(&args, trials.collect())
        }
    };

    let failed_run = run_dir("failed");
    let crowd_run = run_dir("crowd");
    let after = vec![
        // A town of its own: ten residents from a generated config.
        Trial::test(
            "crowd::a_burst_to_ten_residents_loses_none_across_a_restart",
            move || {
                let r =
                    checks::crowd::a_burst_to_ten_residents_loses_none_across_a_restart(&crowd_run)
                        .map_err(|e| Failed::from(format!("{e:#}")));
                r.and_then(|()| nothing_is_left(&crowd_run))
            },
        ),
        Trial::test(
            "teardown_leaves_no_mount_loop_container_or_synapse",
            move || nothing_is_left(&run),
        ),
        Trial::test("a_failed_start_is_torn_down_too", move || {
            a_failed_start_is_torn_down(failed_run.clone())
        }),
    ];
    let mut a = args.clone();
    a.test_threads = Some(1);
    let c2 = libtest_mimic::run(&a, after);
    conclusion.num_failed += c2.num_failed;
    conclusion.num_passed += c2.num_passed;
    conclusion.exit();
}
