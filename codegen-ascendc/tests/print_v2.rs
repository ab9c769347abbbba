//! The kernel IR v2 printer on the hand-written v2 kernels of `lower/tests/kir_v2/`: an AIC matmul, a
//! MIX matmul + ReLU and a vector kernel. Snapshots, plus the CANN 8.5 calls each instruction must
//! become (names and parameter structs as the headers declare them).

use moge_codegen_ascendc::print_v2::print_program;
use moge_lower::kir::v2::parse_program;

fn print(text: &str) -> Vec<(String, String)> {
    let p = parse_program(text).unwrap_or_else(|e| panic!("{e}"));
    print_program(&p).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn an_aic_matmul_prints_the_cube_basic_api() {
    let out = print(include_str!("../../lower/tests/kir_v2/matmul.kir"));
    let (name, src) = &out[0];
    assert_eq!(name, "mm16_0");
    for expected in [
        "extern \"C\" __global__ __aicore__ void mm16_0(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR workspace, GM_ADDR tiling)",
        "KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);",
        "AscendC::TQue<AscendC::TPosition::A1, 1> q0;",
        "AscendC::TQue<AscendC::TPosition::CO1, 1> q4;",
        "for (v0 = 0LL; v0 < tilingData->k_tiles; ++v0) {",
        "AscendC::Nd2NzParams p;",
        "AscendC::DataCopy(t0, g0[(v0 * 16LL)], p);",
        "p.ifTranspose = true;",
        "AscendC::LoadData(t3[0LL], t1[0LL], p);",
        "p.cmatrixInitVal = (static_cast<int64_t>(v0 == 0LL)) != 0;",
        "AscendC::Mmad(t4, t2, t3, p);",
        "p.quantPre = QuantMode_t::F322F16;",
        "AscendC::Fixpipe<half, float, AscendC::CFG_ROW_MAJOR>(g2[0LL], t4, p);",
        "t4 = q4.DeQue<float>();",
        "q4.FreeTensor(t4);",
    ] {
        assert!(src.contains(expected), "missing `{expected}` in\n{src}");
    }
    insta::assert_snapshot!("v2_matmul", src);
}

#[test]
fn a_mix_kernel_prints_core_sides_and_cross_core_flags() {
    let out = print(include_str!("../../lower/tests/kir_v2/mix.kir"));
    let src = &out[0].1;
    for expected in [
        "KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);",
        // The workspace tile is not a parameter: it lives in the workspace.
        "void mm_relu_0(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR workspace, GM_ADDR tiling)",
        "g3.SetGlobalBuffer(reinterpret_cast<__gm__ float*>((workspace + 0)));",
        "if ASCEND_IS_AIC {",
        "AscendC::CrossCoreSetFlag<2, PIPE_FIX>(0);",
        "if ASCEND_IS_AIV {",
        "AscendC::CrossCoreWaitFlag<2, PIPE_MTE2>(0);",
        "AscendC::Relu(t6, t5, static_cast<int32_t>(256LL));",
    ] {
        assert!(src.contains(expected), "missing `{expected}` in\n{src}");
    }
    insta::assert_snapshot!("v2_mix", src);
}

#[test]
fn a_vector_kernel_prints_queues_flags_and_barriers_from_the_ir() {
    const VECTOR: &str = include_str!("../../lower/tests/kir_v2/vector.kir");
    let out = print(VECTOR);
    let src = &out[0].1;
    for expected in [
        "const AscendC::TEventID ev0 = pipe.AllocEventID<AscendC::HardEvent::MTE2_V>();",
        "AscendC::SetFlag<AscendC::HardEvent::MTE2_V>(ev0);",
        "AscendC::WaitFlag<AscendC::HardEvent::MTE2_V>(ev0);",
        "t0 = q0.AllocTensor<float>();",
        "q0.EnQue(t0);",
        "AscendC::PipeBarrier<PIPE_V>();",
        "AscendC::Exp(t3, t0, static_cast<int32_t>(512LL));",
        "AscendC::Add(t2, t3, t1, static_cast<int32_t>(512LL));",
        "::MogeVecApply<::MogeOp::MUL>(t3, t3, t4, static_cast<int32_t>(8LL), 64, 64);",
        "AscendC::DataCopyExtParams(1, static_cast<uint32_t>(8LL * 256), 0, 0, 0)",
        "pipe.ReleaseEventID<AscendC::HardEvent::MTE2_V>(ev0);",
    ] {
        assert!(src.contains(expected), "missing `{expected}` in\n{src}");
    }
    insta::assert_snapshot!("v2_vector", src);
}

#[test]
fn a_tensor_named_like_a_printer_local_keeps_its_name_and_the_local_is_renamed() {
    // The manifest's names are the entry's parameters verbatim: a tensor called `t0` or `pipe` stays
    // so, and the printer's own `t0` / `pipe` become `t0_1` / `pipe_1`.
    let text = include_str!("../../lower/tests/kir_v2/matmul.kir")
        .replace("g0 = input a ", "g0 = input t0 ")
        .replace("g1 = input b ", "g1 = input pipe ");
    let src = &print(&text)[0].1;
    for expected in [
        "void mm16_0(GM_ADDR t0, GM_ADDR pipe, GM_ADDR c, GM_ADDR workspace, GM_ADDR tiling)",
        "g0.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(t0));",
        "g1.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(pipe));",
        "AscendC::TPipe pipe_1;",
        "pipe_1.InitBuffer(q0, 2, 512);",
        "AscendC::LocalTensor<half> t0_1; // a_l1",
        "AscendC::LoadData(t2[0LL], t0_1[0LL], p);",
    ] {
        assert!(src.contains(expected), "missing `{expected}` in\n{src}");
    }
}
