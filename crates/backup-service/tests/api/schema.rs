use backup_service::startup::MIGRATIONS;
use diesel::{Connection, PgConnection, RunQueryDsl};
use diesel_migrations::MigrationHarness;
use service_kit::db::TestDatabase;

/// Every migration applies, reverts cleanly, and applies again.
#[test]
fn migrations_run_up_down_and_up_again() {
    let db = TestDatabase::create(&crate::helpers::database_url(), "vbs_backup_migrations").unwrap();
    let mut conn = PgConnection::establish(&db.url).unwrap();
    let applied = conn.run_pending_migrations(MIGRATIONS).unwrap().len();
    assert!(applied >= 3, "kit and service migrations");
    let reverted = conn.revert_all_migrations(MIGRATIONS).unwrap().len();
    assert_eq!(reverted, applied);
    let tables: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations')",
    ))
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(tables, 0, "down migrations leave nothing behind");
    assert_eq!(conn.run_pending_migrations(MIGRATIONS).unwrap().len(), applied);
}
