! The worker-thread team through the Fortran module (include/backprop.f90), against the serial
! functions that include/backprop.h defines each team function by, so that a binding of a wrong
! type, order or intent gives other bits or another status and the program stops non-zero. On a
! 3-5-4-1 network (tanh, softplus, identity; quadratic cost), N = 2 and 3 workers, batches of 7
! and 2 columns (not multiples of N; 2 leaves one of 3 shares empty):
!  - bp_team_gradient is, bit for bit, the gradients of bp_gradient_batch over the shares
!    [w*b/N, (w+1)*b/N) added in share order (a share without columns adds zeros), its cost the
!    shares' costs added so;
!  - bp_team_gradient_forces on a tangent team, with w_E and w_F > 0, the same against
!    bp_gradient_forces (E and F in arrays of leading dimensions 1 and n^1, so that the two differ);
!  - bp_team_workers is N; a batch above max_batch is BP_EBATCH and a force term on a team of
!    plain workspaces BP_EMISMATCH, the gradient untouched;
!  - bp_team_optim_step (Adam with L2 and decoupled decay, m = 7, n = 100) leaves the parameters
!    at bp_optim_step's bits on a twin network;
! then bp_online_step is bp_gradient_batch + bp_sgd_step on one sample up to rounding (other
! summation orders), and bp_blas_set_threads refuses 0 threads. The new bindings are called with
! their arguments named where several share a type, so that an interface whose names are not in
! the C order fails too; the serial references are called as the examples call them.
program test_team_f90
    use, intrinsic :: iso_c_binding
    use backprop
    implicit none
    integer(c_int), parameter :: n1 = 3, max_batch = 7
    integer(c_int), parameter :: sizes(4) = [n1, 5, 4, 1]
    integer(c_int), parameter :: acts(3) = [BP_TANH, BP_SOFTPLUS, BP_IDENTITY]
    integer(c_int), parameter :: teams(2) = [2, 3], batches(2) = [7, 2]
    integer(c_long), parameter :: set_size = 100
    real(c_float), parameter :: w_e = 0.7, w_f = 0.3, sentinel = 1e3
    type(c_ptr) :: net, twin, team, tangent, opt, twin_opt, ws, twin_ws
    type(bp_net_info) :: info
    type(bp_optim_config) :: cfg
    real(c_float) :: x(n1, max_batch), e(max_batch), f(n1, max_batch)
    real(c_float), allocatable :: got(:), ref(:), before(:)
    real(c_double) :: cost, ref_cost
    character(len=32) :: run
    integer(c_int) :: st, workers, nw, b
    integer :: i, j, t, k

    net = c_null_ptr
    twin = c_null_ptr
    call ok(bp_net_create(net, 4, sizes, acts, BP_QUADRATIC), 'bp_net_create')
    call ok(bp_net_init(net, BP_INIT_XAVIER, 5_c_int64_t), 'bp_net_init')
    call ok(bp_net_create(twin, 4, sizes, acts, BP_QUADRATIC), 'bp_net_create')
    call ok(bp_net_init(twin, BP_INIT_XAVIER, 5_c_int64_t), 'bp_net_init')
    call ok(bp_net_describe(net, info), 'bp_net_describe')
    allocate(got(info%num_params), ref(info%num_params), before(info%num_params))
    cfg%kind = BP_OPT_ADAM
    cfg%eta = 0.01
    cfg%lambda = 0.1
    cfg%weight_decay = 0.01
    call ok(bp_optim_create(opt, net, cfg), 'bp_optim_create')
    call ok(bp_optim_create(twin_opt, twin, cfg), 'bp_optim_create')
    ! The energy x1 x2 + sin(x3) and its forces at points spread over [-1.5, 1.5]^3.
    do j = 1, max_batch
        do i = 1, n1
            x(i, j) = 1.5 * sin(0.7 * real(i) + 1.3 * real(j))
        end do
        e(j) = x(1, j) * x(2, j) + sin(x(3, j))
        f(:, j) = [-x(2, j), -x(1, j), -cos(x(3, j))]
    end do
    ! The team runs BLAS at one thread: the serial shares too (a generic CBLAS has no count to set).
    st = bp_blas_set_threads(1)
    call check(st == BP_OK .or. st == BP_ECONFIG, 'bp_blas_set_threads(1)')
    call check(bp_blas_set_threads(0) == BP_EDIM, 'bp_blas_set_threads(0) is not BP_EDIM')

    do t = 1, size(teams)
        nw = teams(t)
        call ok(bp_team_create(team, net, workers=nw, max_batch=max_batch), 'bp_team_create')
        call ok(bp_team_create_tangent(tangent, net, workers=nw, max_batch=max_batch), &
                'bp_team_create_tangent')
        call ok(bp_team_workers(team, workers), 'bp_team_workers')
        call check(workers == nw, 'bp_team_workers')
        do k = 1, size(batches)
            b = batches(k)
            write(run, '(a, i0, a, i0)') ': N = ', nw, ', batch ', b
            got = sentinel ! overwritten, not accumulated
            call ok(bp_team_gradient(team, net, b, x=x, ldx=n1, y=e, ldy=1, grad=got, cost=cost), &
                    'bp_team_gradient')
            call share_sum(nw, b, .false., ref, ref_cost)
            call check(same(got, ref) .and. same_double(cost, ref_cost), &
                       'bp_team_gradient' // trim(run))
            got = sentinel
            call ok(bp_team_gradient_forces(tangent, net, b, x=x, ldx=n1, e=e, lde=1, f=f, &
                                            ldf=n1, w_energy=w_e, w_force=w_f, grad=got, &
                                            loss=cost), 'bp_team_gradient_forces')
            call share_sum(nw, b, .true., ref, ref_cost)
            call check(same(got, ref) .and. same_double(cost, ref_cost), &
                       'bp_team_gradient_forces' // trim(run))
        end do
        ! (the call apart from the comparison: Fortran may evaluate the operands of .and. in
        ! either order)
        got = sentinel
        ref = got
        st = bp_team_gradient(team, net, max_batch + 1, x, n1, e, 1, got, cost)
        call check(st == BP_EBATCH .and. same(got, ref), 'bp_team_gradient above max_batch')
        st = bp_team_gradient_forces(team, net, max_batch, x, n1, e, 1, f, n1, w_e, w_f, got, cost)
        call check(st == BP_EMISMATCH .and. same(got, ref), 'bp_team_gradient_forces, plain team')
        ! One step from the batch's gradient: by the team on net, serially on its twin (the same
        ! bits so far), so that both stay the same bits.
        call ok(bp_team_gradient(team, net, max_batch, x, n1, e, 1, got, cost), 'bp_team_gradient')
        call ok(bp_team_optim_step(team, opt, net, got, m=max_batch, n=set_size, eta=cfg%eta), &
                'bp_team_optim_step')
        call ok(bp_optim_step(twin_opt, twin, got, max_batch, set_size, cfg%eta), 'bp_optim_step')
        write(run, '(a, i0)') ': N = ', nw
        call check(same(params(net), params(twin)), 'bp_team_optim_step' // trim(run))
        call bp_team_free(tangent)
        call bp_team_free(team)
    end do

    ! The fused online step on net, the gradient and SGD step it equals on twin (the same bits).
    ws = c_null_ptr
    twin_ws = c_null_ptr
    before = params(net)
    call ok(bp_workspace_create(ws, net, 1), 'bp_workspace_create')
    call ok(bp_workspace_create(twin_ws, twin, 1), 'bp_workspace_create')
    call ok(bp_online_step(net, ws, x=x(1, 4), y=e(4), eta=0.5_c_float, cost=cost), &
            'bp_online_step')
    call ok(bp_gradient_batch(twin, twin_ws, 1, x(1, 4), n1, e(4), 1, got, ref_cost), &
            'bp_gradient_batch')
    call ok(bp_sgd_step(twin, got, 0.5_c_float, 1), 'bp_sgd_step')
    ref = params(twin)
    got = params(net)
    call check(abs(cost - ref_cost) <= 1d-6 * abs(ref_cost) .and. &
               all(abs(got - ref) <= 1e-6 + 1e-5 * abs(ref)) .and. &
               maxval(abs(ref - before)) > 1e-3, 'bp_online_step')

    call bp_workspace_free(twin_ws)
    call bp_workspace_free(ws)
    call bp_optim_free(twin_opt)
    call bp_optim_free(opt)
    call bp_net_free(twin)
    call bp_net_free(net)
    deallocate(got, ref, before) ! a main program's allocatables are never freed for it
    print '(a)', 'test_team_f90: the gradients, force gradients and steps of 2 and 3 workers ' // &
                 'are the serial bits'

contains

    ! What a team of n workers must give for the first batch columns: share w is the columns
    ! [w*batch/n, (w+1)*batch/n), whose gradient (bp_gradient_forces' if forces, else
    ! bp_gradient_batch's) in a workspace of its own goes into a block of its own (zeros without
    ! columns); g is share 0's block plus the others' added in share order, the order the bits
    ! depend on (src/workers.c), and total the shares' costs added so.
    subroutine share_sum(n, batch, forces, g, total)
        integer(c_int), intent(in) :: n, batch
        logical, intent(in) :: forces
        real(c_float), intent(out) :: g(:)
        real(c_double), intent(out) :: total
        real(c_float) :: gw(size(g))
        real(c_double) :: c
        type(c_ptr) :: share_ws
        integer(c_int) :: w, lo, hi

        do w = 0, n - 1
            lo = int(int(w, c_int64_t) * batch / n)
            hi = int(int(w + 1, c_int64_t) * batch / n)
            gw = 0
            c = 0
            if (hi > lo) then
                share_ws = c_null_ptr
                if (forces) then
                    call ok(bp_workspace_create_tangent(share_ws, net, hi - lo), &
                            'bp_workspace_create_tangent')
                    call ok(bp_gradient_forces(net, share_ws, hi - lo, x(1, lo + 1), n1, &
                                               e(lo + 1), 1, f(1, lo + 1), n1, w_e, w_f, gw, c), &
                            'bp_gradient_forces')
                else
                    call ok(bp_workspace_create(share_ws, net, hi - lo), 'bp_workspace_create')
                    call ok(bp_gradient_batch(net, share_ws, hi - lo, x(1, lo + 1), n1, &
                                              e(lo + 1), 1, gw, c), 'bp_gradient_batch')
                end if
                call bp_workspace_free(share_ws)
            end if
            if (w == 0) then
                g = gw
                total = c
            else
                g = g + gw
                total = total + c
            end if
        end do
    end subroutine share_sum

    ! A copy of the parameters of network p (of net's shape).
    function params(p) result(theta)
        type(c_ptr), intent(in) :: p
        real(c_float), allocatable :: theta(:)
        type(c_ptr) :: block
        real(c_float), pointer :: view(:)
        call ok(bp_net_params(p, block), 'bp_net_params')
        call c_f_pointer(block, view, [info%num_params])
        theta = view
    end function params

    ! Bit for bit (a comparison of reals would take -0 for +0).
    logical function same(a, b)
        real(c_float), intent(in) :: a(:), b(:)
        same = size(a) == size(b)
        if (same) same = all(transfer(a, 0_c_int32_t, size(a)) == &
                             transfer(b, 0_c_int32_t, size(b)))
    end function same

    logical function same_double(a, b)
        real(c_double), intent(in) :: a, b
        same_double = transfer(a, 0_c_int64_t) == transfer(b, 0_c_int64_t)
    end function same_double

    subroutine ok(status, what)
        integer(c_int), intent(in) :: status
        character(len=*), intent(in) :: what
        if (status /= BP_OK) then
            print '(4a)', 'test_team_f90: ', what, ': ', bp_message(status)
            error stop 1
        end if
    end subroutine ok

    subroutine check(passed, what)
        logical, intent(in) :: passed
        character(len=*), intent(in) :: what
        if (.not. passed) then
            print '(2a)', 'test_team_f90: wrong: ', what
            error stop 1
        end if
    end subroutine check

end program test_team_f90
