use moge::prelude::*;

// A raw identifier is the same name as the plain one, as in Rust: the program is `try`, exported as
// `try_k0`; the parameter `fn` and the result `loop` keep their names; `r#x` and `x` are one binding.
#[moge::kernel]
fn r#try(r#fn: Tensor<f32, (N,)>) -> (Tensor<f32, (N,)>, Tensor<f32, (N,)>) {
    let r#x = exp(r#fn);
    let r#loop = x + 1.0;
    (r#loop, r#fn)
}

fn main() {
    assert_eq!(<r#try as KernelDef>::NAME, "try");
    let graph = r#try::graph().expect("specializes");
    assert_eq!(graph.name, "try");
    assert_eq!(graph.params[0].name, "fn");
    let names: Vec<&str> = graph.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["loop", "fn_1"]);
    let x = Tensor::from_f32(DType::F32, vec![2], vec![0.0, 1.0]).expect("tensor");
    let (y, same) = r#try::eval(&x).expect("evaluates");
    assert_eq!(y.as_f32(), Some(&[2.0, 1.0f32.exp() + 1.0][..]));
    assert_eq!(same, x);
}
