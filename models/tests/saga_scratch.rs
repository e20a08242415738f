use brokerlab_core::Mutant;
use brokerlab_models::check::{check, report, Options};
use brokerlab_models::Saga;

#[test]
fn scratch() {
    let depth: usize = std::env::var("DEPTH").unwrap().parse().unwrap();
    let crashes: u8 = std::env::var("CRASHES").unwrap_or("1".into()).parse().unwrap();
    let abort = std::env::var("ABORT").map_or(true, |v| v == "1");
    let duplicates: u8 = std::env::var("DUPS").unwrap_or("1".into()).parse().unwrap();
    let mutant = std::env::var("MUTANT").ok().map(|m| Mutant::ALL.into_iter().find(|x| x.name() == m).unwrap());
    let options = Options { threads: 1, depth: Some(depth), stop_at_failure: mutant.is_some(), ..Options::default() };
    let model = Saga { crashes, abort, duplicates, mutant, ..Saga::default() };
    let outcome = check(model.into_model(), &options);
    println!("{}", report(&outcome, &options));
}
