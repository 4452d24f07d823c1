! Trains a 2-4-1 network on XOR from Fortran through the backprop module (include/backprop.f90),
! driving the equations itself: the batch's gradient (forward and backward) into a gradient block,
! one optimizer step per epoch. Exits non-zero unless the four outputs round to their targets, and
! unless bp_predict (inference through the network's scaling, here an input scaling that centres
! the inputs) maps the four samples, shifted and stretched in the data's units, to the same outputs.
program train_xor
    use, intrinsic :: iso_c_binding
    use backprop
    implicit none
    integer, parameter :: epochs = 2000
    ! Four samples as the columns of x (2 x 4) and y (1 x 4): column-major, as the library wants.
    real(c_float), parameter :: x(2, 4) = reshape([0., 0., 0., 1., 1., 0., 1., 1.], [2, 4])
    real(c_float), parameter :: y(1, 4) = reshape([0., 1., 1., 0.], [1, 4])
    integer(c_int), parameter :: sizes(3) = [2, 4, 1]
    integer(c_int), parameter :: acts(2) = [BP_TANH, BP_SIGMOID]
    type(c_ptr) :: net, ws, opt, out_ptr
    type(bp_net_info) :: info
    type(bp_optim_config) :: cfg
    real(c_float), allocatable :: grad(:)
    real(c_float), pointer :: out(:, :)
    real(c_float), parameter :: mean(2) = [10., -5.], scale(2) = [100., 0.5]
    real(c_float) :: raw(2, 4), pred(1, 4), ref(4)
    real(c_double) :: cost
    integer(c_int) :: st, ld
    integer :: epoch

    if (bp_version_number() /= BP_VERSION) then
        print '(a, i0, a, i0)', 'fortran: library ', bp_version_number(), ', module ', BP_VERSION
        error stop 1
    end if
    net = c_null_ptr
    ws = c_null_ptr
    opt = c_null_ptr
    cfg%kind = BP_OPT_MOMENTUM
    cfg%eta = 0.5
    cfg%mu = 0.9

    st = bp_net_create(net, 3, sizes, acts, BP_CROSS_ENTROPY)
    if (st == BP_OK) st = bp_net_init(net, BP_INIT_XAVIER, 42_c_int64_t)
    if (st == BP_OK) st = bp_net_describe(net, info)
    if (st == BP_OK) st = bp_workspace_create(ws, net, 4)
    ! A 2-4-1 network is far too small for a BLAS call to pay: the project's own loops (bp_path).
    if (st == BP_OK) st = bp_workspace_set_path(ws, BP_PATH_LOOPS)
    if (st == BP_OK) st = bp_optim_create(opt, net, cfg)
    if (st == BP_OK) allocate(grad(info%num_params))
    do epoch = 1, epochs
        if (st /= BP_OK) exit
        st = bp_gradient_batch(net, ws, 4, x, 2, y, 1, grad, cost)
        if (st == BP_OK) st = bp_optim_step(opt, net, grad, 4, 4_c_long, cfg%eta)
    end do
    if (st == BP_OK) st = bp_forward_batch(net, ws, 4, x, 2)
    if (st == BP_OK) st = bp_cost_value(net, ws, y, 1, cost)
    if (st == BP_OK) st = bp_workspace_activations(ws, 3, out_ptr, ld)
    if (st /= BP_OK) then
        print '(2a)', 'fortran: ', bp_message(st)
        error stop 1
    end if
    call c_f_pointer(out_ptr, out, [ld, 4])
    print '(a, f7.4, a, 4f7.3)', 'fortran: cross-entropy', cost, ', outputs', out(1, :)
    if (any(nint(out(1, :)) /= nint(y(1, :))) .or. cost > 0.2) then
        print '(a)', 'fortran: XOR not learned'
        error stop 1
    end if
    ! The same network behind an input scaling x' = (x - mean) / scale answers raw inputs
    ! raw = mean + scale x with its outputs for x.
    ref = out(1, :) ! out points into ws, which bp_predict reuses
    raw = spread(mean, 2, 4) + spread(scale, 2, 4) * x
    st = bp_net_set_scaling(net, BP_SCALE_INPUTS, mean, scale)
    if (st == BP_OK) st = bp_predict(net, ws, 4, raw, 2, pred, 1)
    if (st /= BP_OK) then
        print '(2a)', 'fortran: ', bp_message(st)
        error stop 1
    end if
    if (any(abs(pred(1, :) - ref) > 1e-5)) then
        print '(a, 4f7.3)', 'fortran: bp_predict differs: ', pred(1, :)
        error stop 1
    end if
    call bp_optim_free(opt)
    call bp_workspace_free(ws)
    call bp_net_free(net)
    deallocate(grad) ! a main program's allocatables are never freed for it
end program train_xor
