fn main() {
    std::process::exit(aghub::cli::main());
}
