//! Benchmark (a): encode and decode time, herald's PinSketch against the C++ minisketch at
//! its fastest implementation on this CPU, 32- and 64-bit fields, capacities 16..=1024, the
//! sketch holding `capacity` differences. Medians of repeated runs (the machine is shared).
//!
//! minisketch-rs compiles the C++ library without `HAVE_CLMUL`, which leaves only the generic
//! (table-driven) implementation; its carry-less-multiply implementations, the fastest on
//! x86-64, need it defined:
//!
//! ```text
//! CXXFLAGS=-DHAVE_CLMUL cargo bench -p herald-pinsketch --features minisketch-oracle
//! ```
//!
//! Encode is building the sketch (adding `capacity` elements), without serializing it: the
//! 2019 minisketch snapshot that minisketch-rs 0.1.9 vendors has a heap-buffer overflow in
//! the CLMUL implementation's serializer for 64-bit fields (AddressSanitizer reports it in
//! `BitWriter::Write`), which is what aborted earlier runs with `malloc(): invalid size` at
//! the 64-bit capacity-64 point. Serializing is linear in the capacity and negligible.
//!
//! Every implementation the build offers is timed and the fastest per point is reported. The
//! C++ sketches get a fixed seed (`minisketch_set_seed`), so the C++ root finding takes the
//! same path on every run. Prints a Markdown table and writes the decode-time plot to
//! `docs/pinsketch-decode.svg` (or the path in `PINSKETCH_SVG`).
use std::fmt::Write as _;
use std::time::Instant;

use herald_pinsketch::PinSketch;
use minisketch_rs::Minisketch;

const CAPACITIES: [usize; 7] = [16, 32, 64, 128, 256, 512, 1024];
const CPP_SEED: u64 = 0x5eed;

fn median(mut v: Vec<f64>) -> f64 {
	v.sort_by(|a, b| a.partial_cmp(b).unwrap());
	v[v.len() / 2]
}

/// Median wall time of `reps` runs of `f`, in microseconds.
fn time<F: FnMut()>(reps: usize, mut f: F) -> f64 {
	median(
		(0..reps)
			.map(|_| {
				let t = Instant::now();
				f();
				t.elapsed().as_secs_f64() * 1e6
			})
			.collect(),
	)
}

/// One measured point.
struct Point {
	bits: u32,
	capacity: usize,
	herald_encode: f64,
	herald_decode: f64,
	/// (implementation, encode µs, decode µs) of the fastest C++ decode.
	cpp: (u32, f64, f64),
}

fn measure(bits: u32, capacity: usize, elements: &[u64]) -> Point {
	let reps = if capacity >= 512 { 5 } else { 15 };
	let herald_encode = time(reps, || {
		let mut s = PinSketch::new(bits, capacity).unwrap();
		elements.iter().for_each(|&e| s.add(e));
		std::hint::black_box(&s);
	});
	let mut ours = PinSketch::new(bits, capacity).unwrap();
	elements.iter().for_each(|&e| ours.add(e));
	let herald_decode = time(reps, || {
		std::hint::black_box(ours.decode(capacity).unwrap());
	});
	let mut best: Option<(u32, f64, f64)> = None;
	for implementation in 0..=Minisketch::implementation_max() {
		// Implementation 2 (CLMUL_TRI) exists only for fields with a trinomial modulus.
		let Ok(mut theirs) = Minisketch::try_new(bits, implementation, capacity) else { continue };
		theirs.set_seed(CPP_SEED);
		let cpp_encode = time(reps, || {
			let mut s = Minisketch::try_new(bits, implementation, capacity).unwrap();
			elements.iter().for_each(|&e| s.add(e));
			std::hint::black_box(&s);
		});
		elements.iter().for_each(|&e| theirs.add(e));
		let mut out = vec![0u64; capacity];
		let cpp_decode = time(reps, || {
			std::hint::black_box(theirs.decode(&mut out).unwrap());
		});
		if best.is_none_or(|(_, _, d)| cpp_decode < d) {
			best = Some((implementation, cpp_encode, cpp_decode));
		}
	}
	Point { bits, capacity, herald_encode, herald_decode, cpp: best.expect("implementation 0 always exists") }
}

fn main() {
	if Minisketch::implementation_max() == 0 {
		eprintln!("warning: minisketch built without HAVE_CLMUL, only its generic implementation is timed");
	}
	println!("| bits | capacity | herald encode µs | C++ encode µs | encode C++/herald | herald decode µs | C++ decode µs (impl) | decode C++/herald |");
	println!("|---|---|---|---|---|---|---|---|");
	let mut state = 1u64;
	let mut points = Vec::new();
	for bits in [32u32, 64] {
		for capacity in CAPACITIES {
			let elements: Vec<u64> = (0..capacity)
				.map(|_| {
					state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
					(state >> 1 | 1) & (u64::MAX >> (64 - bits))
				})
				.collect();
			let p = measure(bits, capacity, &elements);
			let (implementation, cpp_encode, cpp_decode) = p.cpp;
			println!(
				"| {} | {} | {:.1} | {:.1} | {:.2} | {:.1} | {:.1} ({}) | {:.2} |",
				p.bits,
				p.capacity,
				p.herald_encode,
				cpp_encode,
				cpp_encode / p.herald_encode,
				p.herald_decode,
				cpp_decode,
				implementation,
				cpp_decode / p.herald_decode
			);
			points.push(p);
		}
	}
	let path = std::env::var("PINSKETCH_SVG").unwrap_or_else(|_| {
		concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/pinsketch-decode.svg").to_string()
	});
	std::fs::write(&path, plot(&points)).expect("write the SVG plot");
	eprintln!("wrote {path}");
}

/// Decode time against capacity, log-log, one line per library and field size.
fn plot(points: &[Point]) -> String {
	let (width, height, left, right, top, bottom) = (720.0, 460.0, 70.0, 180.0, 30.0, 50.0);
	let (x0, x1) = (16f64.log2(), 1024f64.log2());
	let times: Vec<f64> = points.iter().flat_map(|p| [p.herald_decode, p.cpp.2]).collect();
	let y0 = times.iter().cloned().fold(f64::INFINITY, f64::min).log10().floor();
	let y1 = times.iter().cloned().fold(0.0, f64::max).log10().ceil();
	let x = |c: f64| left + (c.log2() - x0) / (x1 - x0) * (width - left - right);
	let y = |t: f64| top + (y1 - t.log10()) / (y1 - y0) * (height - top - bottom);
	let mut svg = String::new();
	let _ = write!(
		svg,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">PinSketch decode time (capacity differences, median)</text>\n",
		(width - right + left) / 2.0
	);
	for capacity in CAPACITIES {
		let cx = x(capacity as f64);
		let _ = writeln!(
			svg,
			"<line x1=\"{cx:.1}\" y1=\"{top}\" x2=\"{cx:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{capacity}</text>",
			height - bottom,
			height - bottom + 16.0
		);
	}
	for decade in (y0 as i32)..=(y1 as i32) {
		let t = 10f64.powi(decade);
		let cy = y(t);
		let label = if t >= 1000.0 { format!("{} ms", t / 1000.0) } else { format!("{t} µs") };
		let _ = writeln!(
			svg,
			"<line x1=\"{left}\" y1=\"{cy:.1}\" x2=\"{:.1}\" y2=\"{cy:.1}\" stroke=\"#ddd\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
			width - right,
			left - 6.0,
			cy + 4.0
		);
	}
	let _ = writeln!(
		svg,
		"<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">capacity (= differences decoded)</text>",
		(width - right + left) / 2.0,
		height - 12.0
	);
	let series: [(&str, u32, bool, &str, &str); 4] = [
		("herald 32-bit", 32, true, "#1f77b4", ""),
		("C++ 32-bit", 32, false, "#d62728", ""),
		("herald 64-bit", 64, true, "#1f77b4", " stroke-dasharray=\"6 4\""),
		("C++ 64-bit", 64, false, "#d62728", " stroke-dasharray=\"6 4\""),
	];
	for (index, (name, bits, herald, colour, dash)) in series.iter().enumerate() {
		let coordinates: Vec<String> = points
			.iter()
			.filter(|p| p.bits == *bits)
			.map(|p| {
				let t = if *herald { p.herald_decode } else { p.cpp.2 };
				format!("{:.1},{:.1}", x(p.capacity as f64), y(t))
			})
			.collect();
		let _ = writeln!(
			svg,
			"<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>",
			coordinates.join(" ")
		);
		let ly = top + 20.0 + 20.0 * index as f64;
		let lx = width - right + 15.0;
		let _ = writeln!(
			svg,
			"<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{:.1}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/><text x=\"{:.1}\" y=\"{:.1}\">{name}</text>",
			lx + 30.0,
			lx + 36.0,
			ly + 4.0
		);
	}
	svg.push_str("</svg>\n");
	svg
}
