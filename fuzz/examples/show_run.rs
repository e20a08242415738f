//! Prints the run a core_inputs input decodes to: `cargo run --no-default-features --example show_run -- FILE`.
fn main() {
    let path = std::env::args().nth(1).expect("FILE");
    let run = brokerlab_fuzz::steps::decode(&std::fs::read(path).expect("readable"));
    println!("{:?}", run.config);
    for step in run.steps {
        println!("{step:?}");
    }
}
