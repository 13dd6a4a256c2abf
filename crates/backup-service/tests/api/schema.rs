use backup_service::startup::MIGRATIONS;

/// Every migration applies, reverts cleanly, and applies again.
#[test]
fn migrations_run_up_down_and_up_again() {
    service_kit::testing::assert_migrations_round_trip(MIGRATIONS, "vbs_backup_migrations");
}
