! The dynamics of examples/muller_brown.c once more, in Fortran through the backprop module
! (include/backprop.f90), as a simulation code would embed a network potential: the model the C
! program fitted on energies and forces (muller_brown.bpn) gives the force of each step by one
! forward pass and one vector-Jacobian product (bp_forward, bp_vjp_batch with v = 1); a particle
! of mass 1 moves by velocity Verlet on it and, beside it, on the analytic Mueller-Brown surface,
! from the same start. It prints how many steps the two stay within the tolerance and exits
! non-zero unless that count and the last position on the network's surface are the C program's
! (muller_brown.txt): the same arithmetic in the same order gives the same trajectory, bit for bit.
program muller_brown_md
    use, intrinsic :: iso_c_binding
    use backprop
    implicit none
    integer, parameter :: steps = 4000
    ! the constants of muller_brown.c
    real(c_double), parameter :: dt = 1d-3, tolerance = 0.05d0, es = 100d0
    real(c_double), parameter :: centre(2) = [-0.15d0, 0.9d0], half(2) = [1.35d0, 1.1d0]
    real(c_double), parameter :: start(2) = [-0.56d0, 1.44d0], velocity(2) = [6d0, 2d0]
    type(c_ptr) :: net, ws
    real(c_double) :: r(2, 2), v(2, 2), f(2, 2), c_last(2)
    integer(c_int) :: st
    integer :: n, within, c_within, unit, ios

    net = c_null_ptr
    ws = c_null_ptr
    st = bp_model_load(net, bp_c_string('muller_brown.bpn'))
    if (st == BP_OK) st = bp_workspace_create(ws, net, 1)
    if (st /= BP_OK) then
        print '(2a)', 'muller_brown_md: ', bp_message(st)
        error stop 1
    end if
    open(newunit=unit, file='muller_brown.txt', status='old', action='read', iostat=ios)
    if (ios == 0) read(unit, *, iostat=ios) c_within, c_last
    if (ios /= 0) then
        print '(a)', 'muller_brown_md: cannot read muller_brown.txt (run muller_brown first)'
        error stop 1
    end if
    close(unit)

    ! column 1: the true surface, column 2: the network's
    r(:, 1) = start
    r(:, 2) = start
    v(:, 1) = velocity
    v(:, 2) = velocity
    call mueller_brown(r(:, 1), f(:, 1))
    st = net_force(r(:, 2), f(:, 2))
    within = steps
    do n = 1, steps
        if (st /= BP_OK) exit
        v = v + 0.5d0 * dt * f
        r = r + dt * v
        call mueller_brown(r(:, 1), f(:, 1))
        st = net_force(r(:, 2), f(:, 2))
        v = v + 0.5d0 * dt * f
        if (hypot(r(1, 1) - r(1, 2), r(2, 1) - r(2, 2)) > tolerance .and. within == steps) &
            within = n
    end do
    if (st /= BP_OK) then
        print '(2a)', 'muller_brown_md: ', bp_message(st)
        error stop 1
    end if
    print '(a, f4.2, a, f7.4, a, i0, a, i0, a, i0, a)', 'fortran: trajectory within ', tolerance, &
        ' for t = ', within * dt, ' (', within, ' of ', steps, ' steps; C: ', c_within, ')'
    print '(a, 2es24.16, a, 2es24.16)', 'fortran: last position', r(:, 2), ', C:', c_last
    call bp_workspace_free(ws)
    call bp_net_free(net)
    if (within /= c_within .or. any(abs(r(:, 2) - c_last) > 0)) error stop 1 ! bit for bit

contains

    ! f = -grad V of the Mueller-Brown surface at r
    subroutine mueller_brown(r, f)
        real(c_double), intent(in) :: r(2)
        real(c_double), intent(out) :: f(2)
        real(c_double), parameter :: a_(4) = [-200d0, -100d0, -170d0, 15d0]
        real(c_double), parameter :: a(4) = [-1d0, -1d0, -6.5d0, 0.7d0]
        real(c_double), parameter :: b(4) = [0d0, 0d0, 11d0, 0.6d0]
        real(c_double), parameter :: c(4) = [-10d0, -10d0, -6.5d0, 0.7d0]
        real(c_double), parameter :: x0(4) = [1d0, 0d0, -0.5d0, -1d0]
        real(c_double), parameter :: y0(4) = [0d0, 0.5d0, 1.5d0, 1d0]
        real(c_double) :: dx, dy, e, gx, gy
        integer :: k
        gx = 0
        gy = 0
        do k = 1, 4
            dx = r(1) - x0(k)
            dy = r(2) - y0(k)
            e = a_(k) * exp(a(k) * dx * dx + b(k) * dx * dy + c(k) * dy * dy)
            gx = gx + e * (2 * a(k) * dx + b(k) * dy)
            gy = gy + e * (b(k) * dx + 2 * c(k) * dy)
        end do
        f = [-gx, -gy]
    end subroutine mueller_brown

    ! the network's force at r: x' = (r - centre) / half, F = -(dE'/dx') es / half
    function net_force(r, f) result(status)
        real(c_double), intent(in) :: r(2)
        real(c_double), intent(out) :: f(2)
        integer(c_int) :: status
        real(c_float) :: x(2), g(2)
        real(c_float), parameter :: one(1) = [1.0]
        x = real((r - centre) / half, c_float)
        status = bp_forward(net, ws, x)
        if (status == BP_OK) status = bp_vjp_batch(net, ws, 1, one, 1, g, 2)
        f = ((-real(g, c_double)) * es) / half
    end function net_force

end program muller_brown_md
