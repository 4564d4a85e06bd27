use interstice::runtime::Field;

#[derive(Field)]
enum Shape {
    Point,
    Circle(f64),
    Square { side: f64 },
}

#[derive(Field)]
struct Meters(f64);

fn main() {}
