use super::*;

fn made(n: u64) -> Made {
    Made {
        n,
        resident: "ada".into(),
        on: "*:0/5".into(),
        prompt: "run the tests".into(),
        room: "!lab:t".into(),
        by: "@mayor:t".into(),
    }
}

#[test]
fn declared_ids_follow_what_the_schedule_says_and_made_ones_their_number() {
    let mut town = crate::testing::demo_town();
    let ada = town.residents.iter_mut().find(|r| r.name == "ada").unwrap();
    let s = crate::config::schedule::Schedule {
        on: "Mon 07:00".into(),
        prompt: "p".into(),
        room: "!lab:t".into(),
        conversation: Some("weekly".into()),
        at: crate::config::schedule::Place {
            file: "residents/ada.toml".into(),
            line: 30,
            column: 6,
        },
    };
    ada.schedules = vec![s.clone()];
    let gone = Made {
        resident: "zed".into(),
        ..made(2)
    };
    let all = all(&town, &[made(1), gone]);
    assert_eq!(
        all.len(),
        2,
        "a schedule of a resident no longer declared is not run"
    );
    assert_eq!(all[0].conversation, "!lab:t/weekly");
    assert_eq!(
        all[0].origin,
        Origin::Declared("residents/ada.toml:30".into())
    );
    assert!(
        all[0].id.starts_with('d') && all[0].id.len() == 11,
        "{}",
        all[0].id
    );
    assert_eq!(all[1].unit(), "townhall-at-ada-1");
    assert_eq!(all[1].conversation, "!lab:t");
    // The same words, the same id (the timer keeps its last run); other words, another.
    let again = super::all(&town, &[]);
    assert_eq!(again[0].id, all[0].id);
    town.residents
        .iter_mut()
        .find(|r| r.name == "ada")
        .unwrap()
        .schedules[0]
        .prompt = "q".into();
    assert_ne!(super::all(&town, &[])[0].id, all[0].id);
}

#[test]
fn units_catch_up_once_stop_with_the_daemon_and_escape_specifiers() {
    let e = all(
        &crate::testing::demo_town(),
        &[Made {
            on: "Mon 07:00 %n".into(),
            ..made(4)
        }],
    )
    .pop()
    .unwrap();
    let timer = timer_unit(&e);
    for line in [
        "OnCalendar=Mon 07:00 %%n",
        "Persistent=true",
        "BindsTo=townhall.service",
        "Unit=townhall-at-ada-4.service",
    ] {
        assert!(timer.lines().any(|l| l == line), "{line} in\n{timer}");
    }
    let service = service_unit(&e, std::path::Path::new("/usr/bin/townhall"));
    assert!(
        service
            .lines()
            .any(|l| l == "ExecStart=\"/usr/bin/townhall\" fire ada 4"),
        "{service}"
    );
    assert!(service.contains("Requisite=townhall.service"));
}
