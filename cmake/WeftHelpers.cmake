# SPDX-License-Identifier: Apache-2.0
# Shared build settings: warnings, sanitizers, native tuning, the library
# and program wrappers every module uses, and weft_add_test().

add_library(weft_options INTERFACE)
add_library(weft::options ALIAS weft_options)
target_compile_options(weft_options INTERFACE
    -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
    -Wformat=2 -Wcast-qual -Wconversion -Wno-unused-parameter)
if(WEFT_WERROR)
    target_compile_options(weft_options INTERFACE -Werror)
endif()
target_compile_definitions(weft_options INTERFACE _GNU_SOURCE)
if(WEFT_SANITIZE)
    target_compile_options(weft_options INTERFACE
        -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
    target_link_options(weft_options INTERFACE -fsanitize=address,undefined)
endif()
if(WEFT_NATIVE)
    target_compile_options(weft_options INTERFACE -march=native)
endif()

# weft_add_library(NAME SOURCES src... [DEPS weft-lib...] [PUBLIC ext...]
#                  [PRIVATE ext...] [INSTALL] [DESCRIPTION text]
#                  [PC_REQUIRES pkg...] [PC_REQUIRES_PRIVATE pkg...]
#                  [PC_LIBS_PRIVATE flags...])
#
# Makes weft_NAME (static, alias weft::NAME), which programs, tests and
# benchmarks in the tree link. DEPS names weft libraries below this one
# (base, codec, ...); PUBLIC and PRIVATE are other targets or libraries.
# Headers are NAME's include/ folder (public) and src/ (private).
#
# With INSTALL the same objects also make libweft_NAME.so with VERSION,
# SOVERSION and an export list (only weft_* symbols, version node
# WEFT_<major>), both libraries install with the headers, a weft-NAME.pc
# and the targets of the CMake package (find_package(weft): weft::NAME is
# the shared library, weft::NAME_static the static one).
function(weft_add_library name)
    cmake_parse_arguments(L "INSTALL" "DESCRIPTION"
        "SOURCES;DEPS;PUBLIC;PRIVATE;PC_REQUIRES;PC_REQUIRES_PRIVATE;PC_LIBS_PRIVATE" ${ARGN})
    set(t weft_${name})
    set(inc ${CMAKE_CURRENT_SOURCE_DIR}/include)
    add_library(${t}_obj OBJECT ${L_SOURCES})
    target_include_directories(${t}_obj PUBLIC $<BUILD_INTERFACE:${inc}>
        PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
    set(deps_static)
    set(deps_shared)
    foreach(d ${L_DEPS})
        list(APPEND deps_static weft_${d})
        list(APPEND deps_shared weft_${d}_shared)
        # An installed library can only stand on installed ones: its shared
        # build links their shared builds, its .pc requires their .pc.
        if(L_INSTALL AND NOT TARGET weft_${d}_shared)
            message(FATAL_ERROR "weft_add_library(${name} INSTALL): DEPS ${d} is not an "
                                "INSTALL library (declare it first, with INSTALL)")
        endif()
    endforeach()
    target_link_libraries(${t}_obj PUBLIC ${deps_static} ${L_PUBLIC}
        PRIVATE weft::options ${L_PRIVATE})

    add_library(${t} STATIC $<TARGET_OBJECTS:${t}_obj>)
    add_library(weft::${name} ALIAS ${t})
    target_include_directories(${t} PUBLIC $<BUILD_INTERFACE:${inc}>
        $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
    target_link_libraries(${t} PUBLIC ${deps_static} ${L_PUBLIC} PRIVATE ${L_PRIVATE})
    if(NOT L_INSTALL)
        return()
    endif()

    set_target_properties(${t} PROPERTIES EXPORT_NAME ${name}_static)
    add_library(${t}_shared SHARED $<TARGET_OBJECTS:${t}_obj>)
    set(vscript ${CMAKE_BINARY_DIR}/weft-exports.map)
    set_target_properties(${t}_shared PROPERTIES
        OUTPUT_NAME ${t} EXPORT_NAME ${name}
        VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
        LINK_DEPENDS ${vscript}
        # The weft libraries it needs lie beside it: found from its own place
        # wherever the prefix is, also when the program's linker dropped them
        # as not directly used (--as-needed) and its RUNPATH does not apply
        # to them. Packagers installing into the system libdir pass
        # -DCMAKE_SKIP_INSTALL_RPATH=ON.
        INSTALL_RPATH "$ORIGIN")
    target_link_options(${t}_shared PRIVATE "-Wl,--version-script=${vscript}" "-Wl,--no-undefined")
    target_include_directories(${t}_shared PUBLIC $<BUILD_INTERFACE:${inc}>
        $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
    target_link_libraries(${t}_shared PUBLIC ${deps_shared} ${L_PUBLIC} PRIVATE ${L_PRIVATE}
        weft::options)
    install(TARGETS ${t} ${t}_shared EXPORT weftTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
    install(DIRECTORY ${inc}/weft DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

    set(pc_requires)
    foreach(d ${L_DEPS})
        list(APPEND pc_requires weft-${d})
    endforeach()
    list(APPEND pc_requires ${L_PC_REQUIRES})
    string(REPLACE ";" ", " PC_REQUIRES "${pc_requires}")
    string(REPLACE ";" ", " PC_REQUIRES_PRIVATE "${L_PC_REQUIRES_PRIVATE}")
    string(REPLACE ";" " " PC_LIBS_PRIVATE "${L_PC_LIBS_PRIVATE}")
    set(PC_NAME weft-${name})
    set(PC_LIB ${t})
    set(PC_DESCRIPTION "${L_DESCRIPTION}")
    weft_pc_dirs(PC_PREFIX PC_LIBDIR PC_INCLUDEDIR)
    configure_file(${PROJECT_SOURCE_DIR}/cmake/weft.pc.in
        ${CMAKE_BINARY_DIR}/pkgconfig/weft-${name}.pc @ONLY)
    install(FILES ${CMAKE_BINARY_DIR}/pkgconfig/weft-${name}.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endfunction()

# weft_pc_dirs(prefix libdir includedir): the directory lines of an installed
# .pc file. The prefix is found from the .pc file's own place
# (${pcfiledir}, which pkg-config and pkgconf both define), so the files stay
# right wherever the tree is installed: `cmake --install --prefix` another
# place than the configured CMAKE_INSTALL_PREFIX, DESTDIR staging, or a
# relocated tree. Absolute install dirs are written as they are.
function(weft_pc_dirs out_prefix out_libdir out_includedir)
    set(pcdir ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
    if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
        set(${out_prefix} "${CMAKE_INSTALL_PREFIX}" PARENT_SCOPE)
    else()
        # ../.. for lib/pkgconfig, ../../.. for lib/x86_64-linux-gnu/pkgconfig
        file(RELATIVE_PATH up /weft-prefix/${pcdir} /weft-prefix)
        string(REGEX REPLACE "/$" "" up "${up}")
        set(${out_prefix} "\${pcfiledir}/${up}" PARENT_SCOPE)
    endif()
    foreach(kind libdir includedir)
        if(kind STREQUAL "libdir")
            set(d "${CMAKE_INSTALL_LIBDIR}")
        else()
            set(d "${CMAKE_INSTALL_INCLUDEDIR}")
        endif()
        if(IS_ABSOLUTE "${d}")
            set(${out_${kind}} "${d}" PARENT_SCOPE)
        else()
            set(${out_${kind}} "\${prefix}/${d}" PARENT_SCOPE)
        endif()
    endforeach()
endfunction()

# weft_use_commit(TARGET): TARGET may include "weft/commit.h" (WEFT_COMMIT,
# WEFT_DESCRIBE), regenerated before it compiles.
function(weft_use_commit t)
    if(TARGET weft_commit)
        add_dependencies(${t} weft_commit)
        target_include_directories(${t} PRIVATE ${WEFT_GENERATED_DIR})
    endif()
endfunction()

# weft_add_program(NAME SOURCES src... LIBS lib...): a program of apps/,
# installed into bin/.
function(weft_add_program name)
    cmake_parse_arguments(P "" "" "SOURCES;LIBS" ${ARGN})
    add_executable(${name} ${P_SOURCES})
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
    target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
    target_link_libraries(${name} PRIVATE ${P_LIBS} weft::options)
    target_compile_definitions(${name} PRIVATE WEFT_VERSION="${PROJECT_VERSION}")
    weft_use_commit(${name})
    install(TARGETS ${name} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endfunction()

# weft_add_test(NAME name SOURCES a.c b.c LIBS lib... [LABELS l...] [TIMEOUT s])
# Builds a Criterion test executable and registers it with ctest.
function(weft_add_test)
    cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS;ENV" ${ARGN})
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 300)
    endif()
    add_executable(${T_NAME} ${T_SOURCES})
    target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} weft::options weft::criterion
        weft_test_support)
    target_compile_definitions(${T_NAME} PRIVATE
        WEFT_TEST_VECTORS="${PROJECT_SOURCE_DIR}/tests/vectors")
    add_test(NAME ${T_NAME} COMMAND ${T_NAME} --jobs=1)
    set_tests_properties(${T_NAME} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}")
    if(T_ENV)
        set_tests_properties(${T_NAME} PROPERTIES ENVIRONMENT "${T_ENV}")
    endif()
endfunction()
