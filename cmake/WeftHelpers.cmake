# SPDX-License-Identifier: Apache-2.0
# Shared build settings: warnings, sanitizers, native tuning, and the
# weft_add_test() wrapper used by every module's tests.

add_library(weft_options INTERFACE)
add_library(weft::options ALIAS weft_options)
target_compile_options(weft_options INTERFACE
    -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
    -Wno-unused-parameter)
target_compile_definitions(weft_options INTERFACE _GNU_SOURCE)
if(WEFT_SANITIZE)
    target_compile_options(weft_options INTERFACE
        -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
    target_link_options(weft_options INTERFACE -fsanitize=address,undefined)
endif()
if(WEFT_NATIVE)
    target_compile_options(weft_options INTERFACE -march=native)
endif()

# weft_add_test(NAME name SOURCES a.c b.c LIBS lib... [LABELS l...] [TIMEOUT s])
# Builds a Criterion test executable and registers it with ctest.
function(weft_add_test)
    cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS;ENV" ${ARGN})
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 300)
    endif()
    add_executable(${T_NAME} ${T_SOURCES})
    target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} weft::options weft::criterion)
    add_test(NAME ${T_NAME} COMMAND ${T_NAME} --jobs=1)
    set_tests_properties(${T_NAME} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}")
    if(T_ENV)
        set_tests_properties(${T_NAME} PROPERTIES ENVIRONMENT "${T_ENV}")
    endif()
endfunction()
