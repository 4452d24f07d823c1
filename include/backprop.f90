! backprop.f90 - Fortran 2003 interface (iso_c_binding) to the backprop C library.
!
! Compile this file with your program (a .mod file is compiler-specific, so the project ships the
! source) and link the library: with CMake, target_link_libraries(app PRIVATE backprop::fortran);
! otherwise gfortran $(pkg-config --variable=includedir backprop)/backprop.f90 app.f90 \
! $(pkg-config --libs backprop).
!
! Every interface below binds the C function of the same name in backprop.h, whose comment is the
! reference (equation, shapes, errors). How the C types map:
!  - the opaque bp_net*, bp_workspace*, bp_optim*, bp_team* are type(c_ptr); an out-object
!    (bp_net **out) is a type(c_ptr), intent(out) argument, c_null_ptr after a failure; *_free
!    accept c_null_ptr.
!  - enums (bp_status, bp_activation, ...) are integer(c_int), with the enumerators below.
!  - matrices are column-major in both languages: a Fortran array x(n, batch) is the C matrix X with
!    ld = n (size(x, 1)); pass it as x (assumed size).
!  - uint64_t seeds are integer(c_int64_t) (the same bits); strings passed in must end with
!    c_null_char (bp_c_string does it); bp_message turns a failure into a Fortran string.
! Bound: networks (create, init, describe, parameters, scaling, model files), workspaces, the
! forward pass, the batch gradients and the derivatives with respect to the inputs, SGD, the
! optimizers and the online step, the worker-thread teams (their gradients, force gradients and
! optimizer step), the BLAS thread count, messages. Not bound: the entry points whose arguments
! are structs that hold callbacks or strings or that are still growing (bp_train, bp_dataset_*,
! bp_gradcheck, bp_blas_describe), dropout (bp_*_dropout, bp_workspace_mask), the naive reference,
! bp_file_*; drive the equations as in examples/train_xor.f90 (on a team: tests/test_team_f90.f90).
module backprop
    use, intrinsic :: iso_c_binding
    implicit none

    ! The version of this module's declarations; bp_version_number() is the library's.
    integer(c_int), parameter :: BP_VERSION_MAJOR = 1
    integer(c_int), parameter :: BP_VERSION_MINOR = 3
    integer(c_int), parameter :: BP_VERSION_PATCH = 0
    ! BP_VERSION_NUMBER of backprop.h (Fortran names ignore case: bp_version_number is the call)
    integer(c_int), parameter :: BP_VERSION = &
        BP_VERSION_MAJOR * 10000 + BP_VERSION_MINOR * 100 + BP_VERSION_PATCH

    ! bp_status (values pinned by the ABI)
    enum, bind(c)
        enumerator :: BP_OK = 0, BP_ENULL = 1, BP_EDIM = 2, BP_EOVERFLOW = 3, BP_ELD = 4, &
                      BP_EBATCH = 5, BP_EVALUE = 6, BP_ECONFIG = 7, BP_ENOMEM = 8, BP_EIO = 9, &
                      BP_EFORMAT = 10, BP_ENUMERIC = 11, BP_ESTOPPED = 12, BP_EMISMATCH = 13
    end enum
    ! bp_activation
    enum, bind(c)
        enumerator :: BP_SIGMOID = 0, BP_TANH = 1, BP_RELU = 2, BP_LEAKY_RELU = 3, &
                      BP_IDENTITY = 4, BP_SOFTMAX = 5, BP_SOFTPLUS = 6, BP_SILU = 7, &
                      BP_GELU = 8
    end enum
    ! bp_cost
    enum, bind(c)
        enumerator :: BP_QUADRATIC = 0, BP_CROSS_ENTROPY = 1, BP_NLL = 2
    end enum
    ! bp_init
    enum, bind(c)
        enumerator :: BP_INIT_LARGE = 0, BP_INIT_SCALED = 1, BP_INIT_XAVIER = 2, BP_INIT_HE = 3
    end enum
    ! bp_optimizer_kind
    enum, bind(c)
        enumerator :: BP_OPT_SGD = 0, BP_OPT_MOMENTUM = 1, BP_OPT_NESTEROV = 2, BP_OPT_ADAM = 3
    end enum
    ! bp_path
    enum, bind(c)
        enumerator :: BP_PATH_AUTO = 0, BP_PATH_GEMM = 1, BP_PATH_LOOPS = 2
    end enum
    ! bp_scaling_side
    enum, bind(c)
        enumerator :: BP_SCALE_INPUTS = 0, BP_SCALE_TARGETS = 1
    end enum

    ! struct bp_net_info
    type, bind(c) :: bp_net_info
        integer(c_int) :: num_layers
        type(c_ptr) :: sizes       ! num_layers ints, owned by the network
        type(c_ptr) :: activations ! num_layers-1 ints, owned by the network
        integer(c_int) :: cost
        integer(c_size_t) :: num_params
    end type bp_net_info

    ! struct bp_optim_config (0 in beta1, beta2, epsilon selects the defaults, as in C)
    type, bind(c) :: bp_optim_config
        integer(c_int) :: kind = BP_OPT_SGD
        real(c_float) :: eta = 0, lambda = 0, mu = 0, beta1 = 0, beta2 = 0, epsilon = 0, &
                         clip_norm = 0, weight_decay = 0
    end type bp_optim_config

    interface
        function bp_version_number() bind(c, name='bp_version_number')
            import :: c_int
            integer(c_int) :: bp_version_number
        end function

        function bp_net_create(net, num_layers, sizes, activations, cost) &
                bind(c, name='bp_net_create')
            import :: c_int, c_ptr
            type(c_ptr), intent(out) :: net
            integer(c_int), value :: num_layers, cost
            integer(c_int), intent(in) :: sizes(*), activations(*)
            integer(c_int) :: bp_net_create
        end function

        subroutine bp_net_free(net) bind(c, name='bp_net_free')
            import :: c_ptr
            type(c_ptr), value :: net
        end subroutine

        function bp_net_init(net, scheme, seed) bind(c, name='bp_net_init')
            import :: c_int, c_int64_t, c_ptr
            type(c_ptr), value :: net
            integer(c_int), value :: scheme
            integer(c_int64_t), value :: seed
            integer(c_int) :: bp_net_init
        end function

        function bp_net_describe(net, info) bind(c, name='bp_net_describe')
            import :: c_int, c_ptr, bp_net_info
            type(c_ptr), value :: net
            type(bp_net_info), intent(out) :: info
            integer(c_int) :: bp_net_describe
        end function

        ! params: the network's own block of info%num_params floats (c_f_pointer to use it).
        function bp_net_params(net, params) bind(c, name='bp_net_params')
            import :: c_int, c_ptr
            type(c_ptr), value :: net
            type(c_ptr), intent(out) :: params
            integer(c_int) :: bp_net_params
        end function

        function bp_grad_zero(net, grad) bind(c, name='bp_grad_zero')
            import :: c_int, c_ptr, c_float
            type(c_ptr), value :: net
            real(c_float), intent(out) :: grad(*)
            integer(c_int) :: bp_grad_zero
        end function

        function bp_workspace_create(ws, net, max_batch) bind(c, name='bp_workspace_create')
            import :: c_int, c_ptr
            type(c_ptr), intent(out) :: ws
            type(c_ptr), value :: net
            integer(c_int), value :: max_batch
            integer(c_int) :: bp_workspace_create
        end function

        subroutine bp_workspace_free(ws) bind(c, name='bp_workspace_free')
            import :: c_ptr
            type(c_ptr), value :: ws
        end subroutine

        function bp_workspace_set_path(ws, path) bind(c, name='bp_workspace_set_path')
            import :: c_int, c_ptr
            type(c_ptr), value :: ws
            integer(c_int), value :: path
            integer(c_int) :: bp_workspace_set_path
        end function

        function bp_forward_batch(net, ws, batch, x, ldx) bind(c, name='bp_forward_batch')
            import :: c_int, c_ptr, c_float
            type(c_ptr), value :: net, ws
            integer(c_int), value :: batch, ldx
            real(c_float), intent(in) :: x(*)
            integer(c_int) :: bp_forward_batch
        end function

        ! a: n^l x batch activations owned by ws, leading dimension ld (c_f_pointer to use them).
        function bp_workspace_activations(ws, l, a, ld) bind(c, name='bp_workspace_activations')
            import :: c_int, c_ptr
            type(c_ptr), value :: ws
            integer(c_int), value :: l
            type(c_ptr), intent(out) :: a
            integer(c_int), intent(out) :: ld
            integer(c_int) :: bp_workspace_activations
        end function

        ! classes(j) = 0-based index of the largest output of sample j.
        function bp_workspace_classes(ws, classes) bind(c, name='bp_workspace_classes')
            import :: c_int, c_ptr
            type(c_ptr), value :: ws
            integer(c_int), intent(out) :: classes(*)
            integer(c_int) :: bp_workspace_classes
        end function

        function bp_backward_batch(net, ws, batch, x, ldx, y, ldy, grad) &
                bind(c, name='bp_backward_batch')
            import :: c_int, c_ptr, c_float
            type(c_ptr), value :: net, ws
            integer(c_int), value :: batch, ldx, ldy
            real(c_float), intent(in) :: x(*), y(*)
            real(c_float), intent(inout) :: grad(*) ! accumulated
            integer(c_int) :: bp_backward_batch
        end function

        ! cost: the batch's summed cost (C accepts NULL there; Fortran 2008 has no optional
        ! argument in bind(c), so a variable is always passed).
        function bp_gradient_batch(net, ws, batch, x, ldx, y, ldy, grad, cost) &
                bind(c, name='bp_gradient_batch')
            import :: c_int, c_ptr, c_float, c_double
            type(c_ptr), value :: net, ws
            integer(c_int), value :: batch, ldx, ldy
            real(c_float), intent(in) :: x(*), y(*)
            real(c_float), intent(out) :: grad(*) ! overwritten
            real(c_double), intent(out) :: cost
            integer(c_int) :: bp_gradient_batch
        end function

        function bp_cost_value(net, ws, y, ldy, cost) bind(c, name='bp_cost_value')
            import :: c_int, c_ptr, c_float, c_double
            type(c_ptr), value :: net, ws
            real(c_float), intent(in) :: y(*)
            integer(c_int), value :: ldy
            real(c_double), intent(out) :: cost
            integer(c_int) :: bp_cost_value
        end function

        function bp_sgd_step(net, grad, eta, m) bind(c, name='bp_sgd_step')
            import :: c_int, c_ptr, c_float
            type(c_ptr), value :: net
            real(c_float), intent(in) :: grad(*)
            real(c_float), value :: eta
            integer(c_int), value :: m
            integer(c_int) :: bp_sgd_step
        end function

        function bp_optim_create(opt, net, cfg) bind(c, name='bp_optim_create')
            import :: c_int, c_ptr, bp_optim_config
            type(c_ptr), intent(out) :: opt
            type(c_ptr), value :: net
            type(bp_optim_config), intent(in) :: cfg
            integer(c_int) :: bp_optim_create
        end function

        subroutine bp_optim_free(opt) bind(c, name='bp_optim_free')
            import :: c_ptr
            type(c_ptr), value :: opt
        end subroutine

        function bp_optim_step(opt, net, grad, m, n, eta) bind(c, name='bp_optim_step')
            import :: c_int, c_long, c_ptr, c_float
            type(c_ptr), value :: opt, net
            real(c_float), intent(in) :: grad(*)
            integer(c_int), value :: m
            integer(c_long), value :: n
            real(c_float), value :: eta
            integer(c_int) :: bp_optim_step
        end function

        ! Derivatives with respect to the inputs, after a forward of the same batch. On a network
        ! that carries a scaling they are in raw units, dy/dx = diag(s_y) (da^L/dx') diag(1/s),
        ! and the force loss is the raw loss over s_y^2 (include/backprop.h).
        function bp_forward(net, ws, x) bind(c, name='bp_forward')
            import :: c_int, c_ptr, c_float
            type(c_ptr), value :: net, ws
            real(c_float), intent(in) :: x(*)
            integer(c_int) :: bp_forward
        end function

        ! g(n^1, batch) = (da^L/dx)^T v, v(n^L, batch)
        function bp_vjp_batch(net, ws, batch, v, ldv, g, ldg) bind(c, name='bp_vjp_batch')
            import :: c_int, c_ptr, c_float
            type(c_ptr), value :: net, ws
            integer(c_int), value :: batch, ldv, ldg
            real(c_float), intent(in) :: v(*)
            real(c_float), intent(out) :: g(*)
            integer(c_int) :: bp_vjp_batch
        end function

        ! adot(n^L, batch) = (da^L/dx) u, u(n^1, batch)
        function bp_jvp_batch(net, ws, batch, u, ldu, adot, ldd) bind(c, name='bp_jvp_batch')
            import :: c_int, c_ptr, c_float
            type(c_ptr), value :: net, ws
            integer(c_int), value :: batch, ldu, ldd
            real(c_float), intent(in) :: u(*)
            real(c_float), intent(out) :: adot(*)
            integer(c_int) :: bp_jvp_batch
        end function

        ! j: batch row-major n^L x n^1 Jacobians, j(k, i, s) = d a_i / d x_k of sample s in Fortran
        function bp_jacobian_batch(net, ws, batch, x, ldx, j) bind(c, name='bp_jacobian_batch')
            import :: c_int, c_ptr, c_float
            type(c_ptr), value :: net, ws
            integer(c_int), value :: batch, ldx
            real(c_float), intent(in) :: x(*)
            real(c_float), intent(out) :: j(*)
            integer(c_int) :: bp_jacobian_batch
        end function

        function bp_workspace_create_tangent(ws, net, max_batch) &
                bind(c, name='bp_workspace_create_tangent')
            import :: c_int, c_ptr
            type(c_ptr), intent(out) :: ws
            type(c_ptr), value :: net
            integer(c_int), value :: max_batch
            integer(c_int) :: bp_workspace_create_tangent
        end function

        ! e(1 + (j-1) lde) energies, f(n^1, batch) forces; grad overwritten; loss always passed
        function bp_gradient_forces(net, ws, batch, x, ldx, e, lde, f, ldf, w_energy, w_force, &
                                    grad, loss) bind(c, name='bp_gradient_forces')
            import :: c_int, c_ptr, c_float, c_double
            type(c_ptr), value :: net, ws
            integer(c_int), value :: batch, ldx, lde, ldf
            real(c_float), intent(in) :: x(*), e(*), f(*)
            real(c_float), value :: w_energy, w_force
            real(c_float), intent(out) :: grad(*)
            real(c_double), intent(out) :: loss
            integer(c_int) :: bp_gradient_forces
        end function

        ! path: a C string, bp_c_string('model.bpn').
        function bp_model_save(net, path) bind(c, name='bp_model_save')
            import :: c_int, c_ptr, c_char
            type(c_ptr), value :: net
            character(kind=c_char), intent(in) :: path(*)
            integer(c_int) :: bp_model_save
        end function

        function bp_model_load(net, path) bind(c, name='bp_model_load')
            import :: c_int, c_ptr, c_char
            type(c_ptr), intent(out) :: net
            character(kind=c_char), intent(in) :: path(*)
            integer(c_int) :: bp_model_load
        end function

        ! The model file's bytes, size of them, held by the caller (read from its own file, or
        ! received over MPI): the same validation as bp_model_load.
        function bp_model_load_memory(net, bytes, size) bind(c, name='bp_model_load_memory')
            import :: c_int, c_ptr, c_size_t, c_signed_char
            type(c_ptr), intent(out) :: net
            integer(c_signed_char), intent(in) :: bytes(*)
            integer(c_size_t), value :: size
            integer(c_int) :: bp_model_load_memory
        end function

        ! Standardisation of one side (BP_SCALE_INPUTS: n^1 entries, BP_SCALE_TARGETS: n^L):
        ! x' = (x - mean) / scale enters the network; predictions are scale * a^L + mean.
        function bp_net_set_scaling(net, side, mean, scale) bind(c, name='bp_net_set_scaling')
            import :: c_int, c_ptr, c_float
            type(c_ptr), value :: net
            integer(c_int), value :: side
            real(c_float), intent(in) :: mean(*), scale(*)
            integer(c_int) :: bp_net_set_scaling
        end function

        ! y(n^L, batch) = the outputs in the data's units for the raw inputs x(n^1, batch), through
        ! the network's scaling; allocates nothing, the network shared by threads.
        function bp_predict(net, ws, batch, x, ldx, y, ldy) bind(c, name='bp_predict')
            import :: c_int, c_ptr, c_float
            type(c_ptr), value :: net, ws
            integer(c_int), value :: batch, ldx, ldy
            real(c_float), intent(in) :: x(*)
            real(c_float), intent(out) :: y(*)
            integer(c_int) :: bp_predict
        end function

        ! One sample's SGD step fused into the parameters (no gradient block): x(n^1), y(n^L);
        ! cost (before the step) always passed.
        function bp_online_step(net, ws, x, y, eta, cost) bind(c, name='bp_online_step')
            import :: c_int, c_ptr, c_float, c_double
            type(c_ptr), value :: net, ws
            real(c_float), intent(in) :: x(*), y(*)
            real(c_float), value :: eta
            real(c_double), intent(out) :: cost
            integer(c_int) :: bp_online_step
        end function

        ! The application's choice (1 while its own threads fill the cores); BP_ECONFIG on a
        ! generic CBLAS.
        function bp_blas_set_threads(threads) bind(c, name='bp_blas_set_threads')
            import :: c_int
            integer(c_int), value :: threads
            integer(c_int) :: bp_blas_set_threads
        end function

        ! A team of workers for net's shape and batches of at most max_batch: workers - 1 threads
        ! started now (the calling thread is the other); one calling thread at a time.
        function bp_team_create(team, net, workers, max_batch) bind(c, name='bp_team_create')
            import :: c_int, c_ptr
            type(c_ptr), intent(out) :: team
            type(c_ptr), value :: net
            integer(c_int), value :: workers, max_batch
            integer(c_int) :: bp_team_create
        end function

        ! The same with tangent workspaces, for bp_team_gradient_forces with w_force > 0.
        function bp_team_create_tangent(team, net, workers, max_batch) &
                bind(c, name='bp_team_create_tangent')
            import :: c_int, c_ptr
            type(c_ptr), intent(out) :: team
            type(c_ptr), value :: net
            integer(c_int), value :: workers, max_batch
            integer(c_int) :: bp_team_create_tangent
        end function

        subroutine bp_team_free(team) bind(c, name='bp_team_free')
            import :: c_ptr
            type(c_ptr), value :: team
        end subroutine

        function bp_team_workers(team, workers) bind(c, name='bp_team_workers')
            import :: c_int, c_ptr
            type(c_ptr), value :: team
            integer(c_int), intent(out) :: workers
            integer(c_int) :: bp_team_workers
        end function

        ! bp_gradient_batch over the N shares [w*batch/N, (w+1)*batch/N) of the columns, the
        ! shares' blocks (and costs) added in share order: the bits depend on N only.
        function bp_team_gradient(team, net, batch, x, ldx, y, ldy, grad, cost) &
                bind(c, name='bp_team_gradient')
            import :: c_int, c_ptr, c_float, c_double
            type(c_ptr), value :: team, net
            integer(c_int), value :: batch, ldx, ldy
            real(c_float), intent(in) :: x(*), y(*)
            real(c_float), intent(out) :: grad(*) ! overwritten
            real(c_double), intent(out) :: cost
            integer(c_int) :: bp_team_gradient
        end function

        ! bp_gradient_forces split into the shares as bp_team_gradient splits bp_gradient_batch.
        function bp_team_gradient_forces(team, net, batch, x, ldx, e, lde, f, ldf, w_energy, &
                                         w_force, grad, loss) &
                bind(c, name='bp_team_gradient_forces')
            import :: c_int, c_ptr, c_float, c_double
            type(c_ptr), value :: team, net
            integer(c_int), value :: batch, ldx, lde, ldf
            real(c_float), intent(in) :: x(*), e(*), f(*)
            real(c_float), value :: w_energy, w_force
            real(c_float), intent(out) :: grad(*) ! overwritten
            real(c_double), intent(out) :: loss
            integer(c_int) :: bp_team_gradient_forces
        end function

        ! bp_optim_step's arguments, errors and bits, its passes split across the team's threads.
        function bp_team_optim_step(team, opt, net, grad, m, n, eta) &
                bind(c, name='bp_team_optim_step')
            import :: c_int, c_long, c_ptr, c_float
            type(c_ptr), value :: team, opt, net
            real(c_float), intent(in) :: grad(*)
            integer(c_int), value :: m
            integer(c_long), value :: n
            real(c_float), value :: eta
            integer(c_int) :: bp_team_optim_step
        end function
    end interface

    private :: bp_fortran_string

contains

    ! "name: detail" of a failed call's status, as bp_strerror and bp_last_error say it. Call it
    ! right after the failure, on the same thread (the detail is that of the last call).
    function bp_message(status) result(msg)
        integer(c_int), intent(in) :: status
        character(len=:), allocatable :: msg
        interface
            function bp_strerror_c(status) bind(c, name='bp_strerror')
                import :: c_int, c_ptr
                integer(c_int), value :: status
                type(c_ptr) :: bp_strerror_c
            end function
            function bp_last_error_c() bind(c, name='bp_last_error')
                import :: c_ptr
                type(c_ptr) :: bp_last_error_c
            end function
        end interface
        msg = bp_fortran_string(bp_strerror_c(status)) // ': ' // &
              bp_fortran_string(bp_last_error_c())
    end function bp_message

    ! s without trailing blanks, ended by c_null_char: a path for bp_model_save / bp_model_load.
    function bp_c_string(s) result(c)
        character(len=*), intent(in) :: s
        character(kind=c_char, len=:), allocatable :: c
        c = trim(s) // c_null_char
    end function bp_c_string

    function bp_fortran_string(p) result(s)
        type(c_ptr), intent(in) :: p
        character(len=:), allocatable :: s
        character(kind=c_char), pointer :: chars(:)
        integer :: i, n
        interface
            function bp_strlen_c(str) bind(c, name='strlen')
                import :: c_ptr, c_size_t
                type(c_ptr), value :: str
                integer(c_size_t) :: bp_strlen_c
            end function
        end interface
        n = int(bp_strlen_c(p))
        call c_f_pointer(p, chars, [n])
        allocate(character(len=n) :: s)
        do i = 1, n
            s(i:i) = chars(i)
        end do
    end function bp_fortran_string

end module backprop
