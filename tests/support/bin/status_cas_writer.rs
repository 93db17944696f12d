//! `status-cas-writer URL WRITER ROUNDS`: one status-branch writer process for
//! `tests/status_cas.rs`; prints what it wrote (see `cubist_tests::status_writer::report`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, w, rounds] = args.as_slice() else {
        eprintln!("usage: status-cas-writer URL WRITER ROUNDS");
        std::process::exit(2);
    };
    let (ok, errors) = cubist_tests::status_writer::writer(
        url,
        w.parse().expect("WRITER is a number"),
        rounds.parse().expect("ROUNDS is a number"),
    );
    print!("{}", cubist_tests::status_writer::report(&ok, &errors));
}
