// `sqlx::migrate!` embeds the migrations at compile time; without this, adding a migration file
// alone would not rebuild the crate (sqlx's own `migrate build-script` writes the same line).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
